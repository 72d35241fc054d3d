#!/usr/bin/env bash
# The dashboard in a real browser: Debian's chromium driven by playwright-core (npm)
# against the sandbox server. Installs what it needs; without a browser it fails, it
# never skips. Screenshots and the exported CSV land in target/browser-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
  echo "== installing chromium (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -x "$CHROMIUM" ]; then
  echo "FAIL: no browser at $CHROMIUM: the dashboard's browser tests cannot run" >&2
  exit 1
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "== installing node and npm (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi

echo "== the sandbox server build"
cargo build -p wacontacts --features sandbox
BIN=$(pwd)/target/debug/wacontacts

echo "== playwright-core (npm ci)"
(cd scripts/browser && npm ci --no-audit --no-fund --loglevel=error)

rm -rf target/browser-artifacts
echo "== the dashboard in chromium"
WACONTACTS_BIN="$BIN" CHROMIUM="$CHROMIUM" node --test --test-reporter=spec scripts/browser/dashboard.test.mjs
echo "screenshots: target/browser-artifacts/"
