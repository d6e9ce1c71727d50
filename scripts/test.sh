#!/usr/bin/env bash
# Builds nnc and runs every test (unit, golden, parity) with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh "$@"
ctest --test-dir build --output-on-failure -j2
