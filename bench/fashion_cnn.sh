#!/bin/sh
# examples/fashion_cnn.nn on full Fashion-MNIST (60,000 training images, batch 64, Adam): trains
# the file's 3 epochs with accuracy shown each epoch, then `nnc evaluate` scores the 10,000 test
# images. Prints the CPU model and thread count, the training output, seconds per epoch, the
# whole training process's wall time and peak RSS, and the test loss and accuracy (the issue
# asks for at least 0.88 within 3 epochs).
#
# Usage: bench/fashion_cnn.sh [path/to/nnc]   (default: build/nnc; THREADS=2, EPOCHS=3)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
nnc=${1:-$root/build/nnc}
threads=${THREADS:-2}
epochs=${EPOCHS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cpu=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*: //')
mhz=$(grep -m1 '^cpu MHz' /proc/cpuinfo | sed 's/^[^:]*: //')
simd=$(grep -m1 '^flags' /proc/cpuinfo | grep -o -w -e avx512f -e avx2 | tr '\n' ' ')
echo "CPU: $cpu, ${mhz} MHz, ${simd}($(nproc) cores online, nnc uses $threads threads)"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'); load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/time -f '%e %M' -o "$work/time" "$nnc" train "$root/examples/fashion_cnn.nn" \
  --data fashion-mnist --epochs "$epochs" --threads "$threads" --checkpoint "$work/run" \
  | tee "$work/train.log"
"$nnc" evaluate "$root/examples/fashion_cnn.nn" --weights "$work/run" --data fashion-mnist \
  --threads "$threads" | tee "$work/eval.log" | sed -n '1,2p'
read -r wall rss < "$work/time"
per_epoch=$(sed -n 's|^[0-9]*/[0-9]* - \([0-9:]*s\) .*|\1|p' "$work/train.log" | tr '\n' ' ')
test_line=$(sed -n 's|^[0-9]*/[0-9]* - .* - \(loss: .*\)$|\1|p' "$work/eval.log")
echo
echo "fashion_cnn, $epochs epochs: epochs took ${per_epoch}; training process ${wall} s wall, peak RSS $((rss / 1024)) MB"
echo "test split (10000 images): $test_line"
