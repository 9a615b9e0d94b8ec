#!/usr/bin/env bash
# The main job, on this machine: start the services, build the sample app
# (test/fixtures/sample-app) with anew's build action, push it to the local
# registry, deploy it, flip traffic to it through Caddy, and print the live
# URL. Every step runs a committed bundle the way the GitHub runner does:
# `node dist/<action>/index.cjs` with INPUT_* variables, outputs read back
# from the GITHUB_OUTPUT file.
#   npm run demo                 (ANEW_DEMO_PORT=8088 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PORT=${ANEW_DEMO_PORT:-8088}

echo "▸ services (bash test/services/start.sh)"
bash test/services/start.sh >/dev/null
# shellcheck disable=SC1091
source "${ANEW_SERVICES_DIR:-/tmp/anew-services}/env"
[ -f dist/build/index.cjs ] && [ -f dist/deploy/index.cjs ] && [ -f dist/flip/index.cjs ] || npm run build --silent

WORK=$(mktemp -d /tmp/anew-demo-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# run_action NAME [input=value]... : runs dist/NAME like the runner; its outputs land in $WORK/NAME.out
run_action() {
  local name=$1; shift
  local out="$WORK/$name.out"; : >"$out"
  local -a envs=("GITHUB_OUTPUT=$out" "RUNNER_TEMP=$WORK" "GITHUB_REPOSITORY=anew-dev/sample-app")
  local kv
  for kv in "$@"; do envs+=("INPUT_$(printf '%s' "${kv%%=*}" | tr '[:lower:]' '[:upper:]')=${kv#*=}"); done
  echo "▸ anew/$name"
  env "${envs[@]}" node "dist/$name/index.cjs" | sed 's/^/    /'
  [ "${PIPESTATUS[0]}" -eq 0 ]
}
# output NAME KEY : one output of the last run of NAME (GITHUB_OUTPUT's name<<delimiter blocks)
output() {
  awk -v key="$2" '$0 ~ "^"key"<<" { d = substr($0, length(key) + 3); getline; print; exit }' "$WORK/$1.out"
}

cp -r "$ROOT/test/fixtures/sample-app/." "$WORK/app"
cp /bin/busybox "$WORK/app/busybox"

run_action build \
  image="$ANEW_REGISTRY/anew-demo/sample-app" \
  context="$WORK/app" \
  base=scratch \
  files=$'busybox:/bin/busybox\nsite/:/www/' \
  env=PORT=8080 \
  entrypoint='["/bin/busybox", "sh", "-c", "exec /bin/busybox httpd -f -p \"${PORT}\" -h /www"]'
IMAGE=$(output build image)

run_action deploy image="$IMAGE" environment=demo app=sample-app docker-host="$ANEW_DOCKER_HOST" \
  router-url="$ANEW_CADDY_ADMIN" keep=1
TARGET=$(output deploy target)

run_action flip environment=demo app=sample-app target="$TARGET" \
  docker-host="$ANEW_DOCKER_HOST" router-url="$ANEW_CADDY_ADMIN" listen="127.0.0.1:$PORT"

URL="http://127.0.0.1:$PORT/"
curl -fsS "$URL" >/dev/null
echo
echo "image:  $IMAGE"
echo "target: $TARGET (release $(output flip release))"
echo "status: node dist/cli/index.cjs status --app sample-app --router-url $ANEW_CADDY_ADMIN"
echo
echo "Live at $URL"
