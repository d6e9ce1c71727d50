#!/usr/bin/env bash
# Installs nnc's build and test dependencies from Debian 12's archive (needs root or sudo).
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build git ca-certificates \
  llvm-19-dev llvm-19-tools libfmt-dev doctest-dev zlib1g-dev libzstd-dev libpng-dev \
  ${NNC_EXTRA_PACKAGES:-python3-torch python3-numpy dataset-fashion-mnist} >/dev/null
