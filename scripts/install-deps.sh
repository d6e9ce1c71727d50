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
