#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install the packages, build nnc, show the
# lecture's autoencoder, train it on the bundled handwritten digits, and draw the result
# (recon.png: originals over reconstructions; loss.png: the loss curves).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
build/nnc summary examples/autoencoder.nn
# A short default: 5 epochs of Adam at lr 0.005 (the lecture's Adadelta at lr 0.001 needs
# many epochs on full-size data before the loss leaves its plateau near 0.69).
# nnc train never overwrites an earlier run: the quickstart starts its own afresh each time.
rm -rf runs/quickstart
build/nnc train examples/autoencoder.nn --data mnist-10k --epochs 5 --optimizer adam --lr 0.005 \
  --checkpoint runs/quickstart --plot loss.png
build/nnc predict examples/autoencoder.nn --weights runs/quickstart --data mnist-10k --count 10 \
  --out recon.png
echo "wrote recon.png (top: test digits, bottom: reconstructions) and loss.png"
