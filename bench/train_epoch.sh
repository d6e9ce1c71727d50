#!/bin/sh
# One epoch of each lecture autoencoder on full Fashion-MNIST (60,000 images, batch 256,
# Adadelta, binary cross-entropy) with nnc and with PyTorch (same models, in its fastest
# configuration on this machine: see torch_epoch.py), in the same run. Prints per model:
# seconds per epoch of both and their ratio, PyTorch's winning configuration, nnc's GFLOP/s
# and fraction of the CPU's peak, nnc's compile time (parse to function pointers) and peak
# RSS, and where nnc's whole process spent its time (compile, loading the data, training
# steps, validation, checkpoints); and the lecture's own Keras figures (on a GPU) as a
# reference line.
#
# Peak FLOP/s = threads x GHz x FLOPs/cycle/core, where FLOPs/cycle is
#   (SIMD floats: 16 with AVX-512, 8 with AVX2, 4 with SSE) x 2 (fused multiply-add, if the
#   CPU has FMA) x 2 (two FMA pipes, as on Zen 2+ and Haswell+),
# and GHz is the nominal clock from /proc/cpuinfo ("cpu MHz"; turbo not counted).
#
# Usage: bench/train_epoch.sh [path/to/nnc]   (default: build/nnc; THREADS=2, LIMIT=0 = all,
#        MODELS="autoencoder autoencoder_transpose"; autoencoder_strided can be added)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
nnc=${1:-$root/build/nnc}
threads=${THREADS:-2}
limit=${LIMIT:-0}
models=${MODELS:-autoencoder autoencoder_transpose}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

data=fashion-mnist
if [ "$limit" != 0 ]; then
  # A prefix of the training split (for quick runs of this script).
  /usr/bin/python3 - "$limit" "$work/data" <<'PY'
import gzip, os, sys
n, dst = int(sys.argv[1]), sys.argv[2]
src = "/usr/share/datasets/fashion-mnist/"
os.makedirs(dst)
for kind, count in (("train", n), ("t10k", min(n, 10000))):
    im = gzip.open(src + kind + "-images-idx3-ubyte.gz").read()
    lb = gzip.open(src + kind + "-labels-idx1-ubyte.gz").read()
    h = bytearray(im[:16]); h[4:8] = count.to_bytes(4, "big")
    open(f"{dst}/{kind}-images-idx3-ubyte", "wb").write(bytes(h) + im[16:16 + count * 784])
    h = bytearray(lb[:8]); h[4:8] = count.to_bytes(4, "big")
    open(f"{dst}/{kind}-labels-idx1-ubyte", "wb").write(bytes(h) + lb[8:8 + count])
PY
  data=$work/data
fi

mhz=$(awk -F: '/cpu MHz/ {print $2; exit}' /proc/cpuinfo)
flags=$(grep -m1 '^flags' /proc/cpuinfo)
simd=4
case "$flags" in *avx2*) simd=8 ;; esac
case "$flags" in *avx512f*) simd=16 ;; esac
fma=1
case "$flags" in *" fma"*) fma=2 ;; esac
peak=$(awk -v t="$threads" -v m="$mhz" -v s="$simd" -v f="$fma" 'BEGIN {printf "%.1f", t * m / 1000 * s * f * 2}')
echo "CPU: $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ //'), ${mhz} MHz;" \
  "peak = $threads threads x $(awk -v m="$mhz" 'BEGIN {printf "%.2f", m / 1000}') GHz x" \
  "$((simd * fma * 2)) FLOPs/cycle ($simd floats x $fma (FMA) x 2 pipes) = $peak GFLOP/s"

echo "lecture (Keras on a GPU, MNIST): autoencoder 2 s/epoch (7 ms/step)," \
  "autoencoder_transpose 1 s/epoch (6 ms/step)"

for model in $models; do
  src=$root/examples/$model.nn
  # Front end (parse .. autodiff): dump the training graph; the JIT's stages are timed inside.
  front=$(/usr/bin/python3 -c '
import subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(f"{(time.perf_counter() - t) * 1000:.1f}")' "$nnc" dump "$src" --emit=grad)
  NNC_DEBUG=1 /usr/bin/time -v "$nnc" train "$src" --epochs 1 --batch 256 --optimizer adadelta \
    --data "$data" --threads "$threads" --checkpoint "$work/ckpt-$model" --time-passes \
    >"$work/$model.out" 2>&1
  steps=$(grep -o '[0-9]*/[0-9]* - ' "$work/$model.out" | tail -1 | cut -d/ -f1)
  per_step=$(grep -o '[0-9.]*[mu]*s/step' "$work/$model.out" | tail -1)
  # Training time of the epoch: steps x time per step (the validation pass is not counted,
  # as in the PyTorch loop).
  epoch=$(echo "$per_step" | awk -v s="$steps" '{
    v = $0 + 0; u = $0; sub(/^[0-9.]*/, "", u)
    f = u ~ /^ms/ ? 1e-3 : (u ~ /^us/ ? 1e-6 : 1); printf "%.2f", v * f * s }')
  gflops=$(awk '/kernel time:/ {print $6}' "$work/$model.out")
  jit_ms=$(awk '/^  total / {print $2}' "$work/$model.out")
  rss=$(awk -F: '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$work/$model.out")
  # Where the whole process's time went (nnc train --time-passes: "run time:" rows in seconds).
  whole=$(awk '/^run time:/ { on = 1; next }
    on && /^  / { v = $(NF - 1); name = $0; sub(/^  /, "", name); sub(/ +[-0-9.]+ s$/, "", name)
                  parts = parts (parts ? ", " : "") sprintf("%s %.2f s", name, v) }
    END { print parts }' "$work/$model.out")
  torch_line=$(/usr/bin/python3 "$here/torch_epoch.py" --threads "$threads" --limit "$limit" "$model" 2>"$work/$model.probe")
  torch=$(echo "$torch_line" | awk '{print $2}')
  config=$(echo "$torch_line" | awk '{print $4}')
  awk -v m="$model" -v e="$epoch" -v t="$torch" -v g="$gflops" -v p="$peak" -v j="$jit_ms" \
      -v f="$front" -v r="$rss" -v s="$steps" -v ps="$per_step" -v c="$config" 'BEGIN {
    printf "%s: nnc %.2f s/epoch (%s steps, %s), PyTorch %.2f s/epoch (fastest of its configurations: %s), nnc %.1fx faster\n", m, e, s, ps, t, c, t / e
    printf "  nnc %.2f GFLOP/s = %.1f%% of %.1f GFLOP/s peak; compile %.0f ms (front end %.0f + JIT %.0f); peak RSS %s MB\n", g, 100 * g / p, p, f + j, f, j, r
  }'
  echo "  nnc whole process: $whole"
done
