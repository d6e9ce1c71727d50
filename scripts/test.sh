#!/usr/bin/env bash
# Builds nnc and runs every test (unit, golden, parity, lecture facts, browser) with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh "$@"
# The browser test's npm packages, at the versions of tests/browser/package-lock.json: installed
# when missing or older than the lock file (offline, the browser test is skipped; .ci/run
# installs them first, so CI always runs it).
if command -v npm >/dev/null && [ ! tests/browser/node_modules/.package-lock.json -nt tests/browser/package-lock.json ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error) ||
    echo "warning: npm ci failed in tests/browser: the browser test will be skipped" >&2
fi
ctest --test-dir build --output-on-failure -j2
