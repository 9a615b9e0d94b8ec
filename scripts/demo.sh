#!/usr/bin/env bash
# The main job, on this machine: starts the services, then scripts/demo.mjs
# builds, attests, deploys and flips the sample app (test/fixtures/sample-app),
# canaries a second version under load, rolls back, shows the status and a
# timeline, and prints the live URL. Each step is the `anew` command.
#   npm run demo                 (ANEW_DEMO_PORT=8088 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
echo "▸ services (bash test/services/start.sh)"
bash test/services/install.sh
bash test/services/start.sh >/dev/null
# shellcheck disable=SC1091
source "${ANEW_SERVICES_DIR:-/tmp/anew-services}/env"
export ANEW_REGISTRY ANEW_DOCKER_HOST ANEW_HAPROXY_MASTER ANEW_HAPROXY_CONFIG
[ -f dist/cli/index.cjs ] || npm run build --silent
exec node scripts/demo.mjs
