#!/usr/bin/env bash
# Installs nnc's build and test dependencies (scripts/debian-packages.txt) from Debian 12's
# archive; needs root or sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $(cat scripts/debian-packages.txt) >/dev/null
# npm is its own package beside Debian's nodejs, while NodeSource's nodejs bundles it and
# conflicts with Debian's: install Debian's only when there is no npm (tests/browser needs it).
command -v npm >/dev/null || $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
