#!/bin/sh
# Compile time against model size: dense chains of 50, 100, 200, 400 and 800 hidden layers,
# each compiled by `nnc train --time-passes` (parse to function pointers, the sum of the
# stages it reports), with the 3 costliest stages and the ratio to the chain half as deep.
# Linear compile time gives a ratio of about 2 per doubling.
#
# The chain (an autoencoder of 4x4 images, so that `nnc train` can feed it):
#   model chainN
#   input x: [16]
#   h = dense(x, units=16, activation=relu)     # then N-1 more: h = dense(h, ...)
#   y = dense(h, units=16, activation=sigmoid)
#   output y
#   loss binary_crossentropy(y, x)
#   train optimizer=adam, epochs=1, batch=2
# Equal layers compile to kernels with identical bodies, which nnc compiles once; so each
# depth also runs as a chain of varied widths, where hidden layer i has 16 + (i * s) mod 31
# units with step s = 1 + i / 31 (integer division): consecutive widths differ, no pair of
# them repeats for 930 layers, so each layer's kernels are unlike every other layer's (only
# bias updates of equal width are alike). That row is the cost of compiling every kernel.
# It trains for one epoch on a dataset of 2 images (train and test), so the run after the
# compile takes milliseconds. Seconds are wall time: on a shared machine, run it when idle.
#
# Usage: bench/compile_scaling.sh [path/to/nnc]   (default: build/nnc)
#   LAYERS="50 100 200 400 800"   chain depths;  TIMEOUT=300   seconds per chain
#   CHAINS="equal varied"         which chains
set -eu
here=$(cd "$(dirname "$0")" && pwd)
nnc=${1:-$(dirname "$here")/build/nnc}
layers=${LAYERS:-50 100 200 400 800}
chains=${CHAINS:-equal varied}
limit=${TIMEOUT:-300}
[ -x "$nnc" ] || { echo "compile_scaling.sh: $nnc is not an executable (build nnc first)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Two 4x4 images with labels, as IDX files (big-endian header: magic, count, rows, cols).
mkdir "$work/data"
for split in train t10k; do
  { printf '\000\000\010\003\000\000\000\002\000\000\000\004\000\000\000\004'
    printf '\000\020\040\060\100\120\140\160\200\220\240\260\300\320\340\360%.0s' 1 2; } \
    > "$work/data/$split-images-idx3-ubyte"
  printf '\000\000\010\001\000\000\000\002\003\007' > "$work/data/$split-labels-idx1-ubyte"
done

chain() { # writes chain $2 of $1 hidden layers to $work/$2$1.nn
  { echo "model $2$1"
    echo "input x: [16]"
    echo "h = dense(x, units=16, activation=relu)"
    i=1
    while [ "$i" -lt "$1" ]; do
      units=16
      [ "$2" = varied ] && units=$((16 + (i * (1 + i / 31)) % 31))
      echo "h = dense(h, units=$units, activation=relu)"
      i=$((i + 1))
    done
    echo "y = dense(h, units=16, activation=sigmoid)"
    echo "output y"
    echo "loss binary_crossentropy(y, x)"
    echo "train optimizer=adam, epochs=1, batch=2"; } > "$work/$2$1.nn"
}

cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo 2>/dev/null | head -1)
if command -v llc-19 >/dev/null; then # LLVM's name for it, the -mcpu the JIT compiles for
  cpu="$cpu ($(llc-19 --version | sed -n 's/.*Host CPU: *//p' | head -1))"
fi
echo "CPU: ${cpu:-unknown}, $(nproc) threads; load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
echo "nnc: $nnc"
printf '%7s %8s %11s %7s  %s\n' layers kernels "compile s" ratio "top 3 stages (s)"
for c in $chains; do
prev=
[ "$c" = equal ] && echo "equal layers (16 units each):" || echo "varied widths (16 to 46 units):"
for n in $layers; do
  chain "$n" "$c"
  rc=0
  timeout "$limit" "$nnc" train "$work/$c$n.nn" --data "$work/data" --time-passes \
    --checkpoint "$work/run$c$n" > "$work/out$n" 2>&1 || rc=$?
  if [ "$rc" -eq 124 ]; then
    printf '%7s %8s %11s %7s  %s\n' "$n" - "> $limit" - "(timed out)"
    prev=
    continue
  elif [ "$rc" -ne 0 ]; then
    echo "compile_scaling.sh: nnc train failed on $n $c layers:" >&2
    tail -5 "$work/out$n" >&2
    exit 1
  fi
  # Stage lines: "name:   12.34 ms" (front end, autodiff) and "  name   12.34 ms ..." (backend).
  awk -v n="$n" -v prev="$prev" '
    /^Training / { exit }
    function stage(name, ms) { names[++count] = name; secs[count] = ms / 1000; total += ms / 1000 }
    /^[a-z].*: +[0-9.]+ ms/ { split($0, p, ":"); v = $(NF - 1); stage(p[1], v) }
    /^  [a-zA-Z]/ && !/^  total/ {
      for (i = 2; i <= NF; i++) if ($i == "ms") break
      name = $1; for (j = 2; j < i - 1; j++) name = name " " $j
      stage(name, $(i - 1))
    }
    /^  total/ { kernels = $4; sub(/\(/, "", kernels) }
    END {
      top = ""
      for (k = 1; k <= 3 && k <= count; k++) {
        best = 0
        for (i = 1; i <= count; i++) if (!used[i] && (best == 0 || secs[i] > secs[best])) best = i
        used[best] = 1
        top = top (k > 1 ? ", " : "") sprintf("%s %.2f", names[best], secs[best])
      }
      ratio = prev > 0 ? sprintf("%.2fx", total / prev) : "-"
      printf "%7s %8s %11.2f %7s  %s\n", n, kernels, total, ratio, top
      print total > "/dev/stderr"
    }' "$work/out$n" 2> "$work/total"
  prev=$(cat "$work/total")
done
done
