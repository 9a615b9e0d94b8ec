#!/usr/bin/env bash
# The main job, on this machine: start the services, build the sample app
# (test/fixtures/sample-app), push it to the local registry, attest it
# (signed SLSA provenance, with a key made for the demo), deploy it behind the
# provenance gate, flip traffic to it through Caddy, and print the live URL.
# Each step is the committed bundle's action run by the `anew` command
# (dist/cli), which reads the same inputs as the workflow step would, with
# the action.yml defaults, and prints its outputs as name=value.
#   npm run demo                 (ANEW_DEMO_PORT=8088 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PORT=${ANEW_DEMO_PORT:-8088}

echo "▸ services (bash test/services/start.sh)"
bash test/services/install.sh
bash test/services/start.sh >/dev/null
# shellcheck disable=SC1091
source "${ANEW_SERVICES_DIR:-/tmp/anew-services}/env"
[ -f dist/cli/index.cjs ] || npm run build --silent

WORK=$(mktemp -d /tmp/anew-demo-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# What the runner would set for a push to main of anew-dev/sample-app (attest records it as provenance).
export GITHUB_REPOSITORY=anew-dev/sample-app GITHUB_SERVER_URL=https://github.com GITHUB_REF=refs/heads/main \
  GITHUB_WORKFLOW_REF=anew-dev/sample-app/.github/workflows/release.yml@refs/heads/main \
  GITHUB_SHA="$(git rev-parse HEAD 2>/dev/null || printf '0%.0s' {1..40})" \
  GITHUB_RUN_ID=1 GITHUB_RUN_ATTEMPT=1 GITHUB_EVENT_NAME=push RUNNER_TEMP="$WORK"

# anew NAME [--option value]... : runs the step; its name=value outputs land in $WORK/NAME.out
anew() {
  local name=$1
  echo "▸ anew $name"
  node "$ROOT/dist/cli/index.cjs" "$@" >"$WORK/$name.out"
  sed 's/^/    /' "$WORK/$name.out"
}
output() { sed -n "s/^$2=//p" "$WORK/$1.out"; }

cp -r "$ROOT/test/fixtures/sample-app/." "$WORK/app"
cp /bin/busybox "$WORK/app/busybox"

anew build --image "$ANEW_REGISTRY/anew-demo/sample-app" --context "$WORK/app" --base scratch \
  --files busybox:/bin/busybox --files site/:/www/ --env PORT=8080 \
  --entrypoint '["/bin/busybox", "sh", "-c", "exec /bin/busybox httpd -f -p \"${PORT}\" -h /www"]'
IMAGE=$(output build image)

# A signing key for this demo; in a workflow, attest signs keyless with the job's OIDC token.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/signing.pem" 2>/dev/null
openssl pkey -in "$WORK/signing.pem" -pubout -out "$WORK/signing.pub" 2>/dev/null
anew attest --image "$IMAGE" --signing-key "$(cat "$WORK/signing.pem")"

anew deploy --image "$IMAGE" --environment demo --app sample-app --docker-host "$ANEW_DOCKER_HOST" \
  --router-url "$ANEW_CADDY_ADMIN" --keep 1 \
  --require-provenance=true --public-key "$WORK/signing.pub" --source-repository anew-dev/sample-app
TARGET=$(output deploy target)

anew flip --environment demo --app sample-app --target "$TARGET" \
  --docker-host "$ANEW_DOCKER_HOST" --router-url "$ANEW_CADDY_ADMIN" --listen "127.0.0.1:$PORT"

URL="http://127.0.0.1:$PORT/"
curl -fsS "$URL" >/dev/null
echo
echo "image:  $IMAGE"
echo "target: $TARGET (release $(output flip release))"
echo "status: node dist/cli/index.cjs status --app sample-app --router-url $ANEW_CADDY_ADMIN"
echo
echo "Live at $URL"
