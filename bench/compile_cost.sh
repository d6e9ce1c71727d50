#!/bin/sh
# Compile cost of each lecture autoencoder's training kernels, in instructions executed by
# LLVM (valgrind's callgrind counts them: repeatable on a shared, noisy machine, unlike
# seconds). The kernels' LLVM IR (`nnc dump --emit=llvm`, the same IR the JIT compiles) goes
# through `opt -O3` and `llc -O3` for the host CPU, the pipeline the JIT runs in-process.
# Compare two builds by running this script with each.
#
# Usage: bench/compile_cost.sh [path/to/nnc]   (default: build/nnc; needs valgrind, opt-19, llc-19)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
nnc=${1:-$root/build/nnc}
for tool in valgrind opt-19 llc-19; do
  command -v "$tool" >/dev/null || { echo "compile_cost.sh: $tool not found (apt-get install valgrind llvm-19)" >&2; exit 1; }
done
[ -x "$nnc" ] || { echo "compile_cost.sh: $nnc is not an executable (build nnc first)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cpu=$(llc-19 --version | sed -n "s/.*Host CPU: *//p" | head -1)
cpu=${cpu:-native}

count() { # prints the instructions (millions) callgrind counted for the command "$@"
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p' | awk '{printf "%.0f", $1 / 1e6}'
}

for model in ${MODELS:-autoencoder autoencoder_transpose}; do
  "$nnc" dump "$root/examples/$model.nn" --emit=llvm > "$work/$model.ll"
  lines=$(grep -c '^  ' "$work/$model.ll")
  kernels=$(grep -c '^define void @k' "$work/$model.ll")
  o=$(count opt-19 -O3 -mcpu="$cpu" -vector-library=LIBMVEC-X86 "$work/$model.ll" -o "$work/$model.bc")
  c=$(count llc-19 -O3 -mcpu="$cpu" "$work/$model.bc" -filetype=obj -o "$work/$model.o")
  echo "$model: $kernels kernels, $lines IR instructions; opt -O3 ${o}M + llc ${c}M = $((o + c))M instructions"
done
