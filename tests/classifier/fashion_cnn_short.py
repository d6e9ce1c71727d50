#!/usr/bin/env python3
"""A short run of examples/fashion_cnn.nn learns: one epoch on 12,000 Fashion-MNIST training
images, then `nnc evaluate` on 2,000 test images must score at least 0.75 accuracy (an untrained
classifier scores about 0.10, chance on ten balanced classes) and agree with the run's own last
val_accuracy. Usage: fashion_cnn_short.py NNC SOURCE_DIR. Exits 77 (skipped) without Debian's
dataset-fashion-mnist."""
import gzip
import os
import re
import struct
import subprocess
import sys
import tempfile
import time

TRAIN, TEST, THRESHOLD = 12000, 2000, 0.75


def find_fashion():
    for d in [os.path.join(os.environ.get("NNC_DATA", ""), "fashion-mnist"),
              "/usr/share/datasets/fashion-mnist"]:
        if os.path.exists(os.path.join(d, "train-images-idx3-ubyte.gz")):
            return d
    return None


def cut(src, dst, prefix, count):
    """Writes the first `count` images and labels of an IDX pair as raw IDX files."""
    with gzip.open(os.path.join(src, prefix + "-images-idx3-ubyte.gz")) as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        pixels = f.read(count * rows * cols)
    with gzip.open(os.path.join(src, prefix + "-labels-idx1-ubyte.gz")) as f:
        f.read(8)
        labels = f.read(count)
    with open(os.path.join(dst, prefix + "-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", magic, count, rows, cols) + pixels)
    with open(os.path.join(dst, prefix + "-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, count) + labels)


def run(args, cwd):
    p = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    return p.stdout


def main():
    nnc, source = sys.argv[1], sys.argv[2]
    fashion = find_fashion()
    if not fashion:
        print("skipped: Fashion-MNIST not found (Debian: dataset-fashion-mnist)")
        return 77
    model = os.path.join(source, "examples", "fashion_cnn.nn")
    with tempfile.TemporaryDirectory(prefix="nnc_fashion_") as tmp:
        data = os.path.join(tmp, "data")
        os.mkdir(data)
        cut(fashion, data, "train", TRAIN)
        cut(fashion, data, "t10k", TEST)
        t0 = time.time()
        log = run([nnc, "train", model, "--data", data, "--epochs", "1", "--checkpoint",
                   os.path.join(tmp, "run")], tmp)
        t1 = time.time()
        out = run([nnc, "evaluate", model, "--weights", os.path.join(tmp, "run")], tmp)
        t2 = time.time()
    print(log + out)
    val = re.search(r"val_accuracy: (\d\.\d{4})", log)
    acc = re.search(r"\d+/\d+ - .* - loss: \d+\.\d{4} - accuracy: (\d\.\d{4})", out)
    if not val or not acc:
        sys.exit("no accuracy in the output")
    print(f"train {t1 - t0:.1f} s, evaluate {t2 - t1:.1f} s; test accuracy {acc.group(1)}")
    if acc.group(1) != val.group(1):
        sys.exit(f"evaluate's accuracy {acc.group(1)} differs from training's val_accuracy "
                 f"{val.group(1)}")
    if float(acc.group(1)) < THRESHOLD:
        sys.exit(f"test accuracy {acc.group(1)} is below {THRESHOLD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
