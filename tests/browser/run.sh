#!/usr/bin/env bash
# The browser test: builds the page, installs what it needs when missing (Debian's chromium and
# chromium-driver, playwright-core from npm, at the version package-lock.json pins), and drives
# the page in headless Chromium (tests/browser/page-test.mjs). Screenshot and measurements land
# in target/browser/.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ ! -x /usr/bin/chromium ]; then
    echo "browser test: installing Debian's chromium and chromium-driver" >&2
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get update -qq
    timeout 900 apt-get install -y -qq chromium chromium-driver >/dev/null
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
scripts/web build
timeout 600 node tests/browser/page-test.mjs host-wasm/www target/browser
