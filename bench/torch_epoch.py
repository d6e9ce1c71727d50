#!/usr/bin/python3
"""One epoch of the lecture's autoencoders in PyTorch, as the baseline for bench/train_epoch.sh.

Same models as examples/autoencoder.nn (UpSampling2D decoder),
examples/autoencoder_transpose.nn (the lecture's Conv2DTranspose decoder) and
examples/autoencoder_strided.nn (stride-2 transposed convolutions), same data (full
Fashion-MNIST training split scaled to [0, 1]), batch 256, Adadelta (lr 0.001, rho 0.95,
eps 1e-7, as Keras), binary cross-entropy.

PyTorch is measured in its fastest configuration on this machine: for each model, every
combination of ATen CPU kernels (PyTorch's default dispatch, AVX2, and AVX-512 where the
CPU has it), memory format (NCHW, channels_last) and thread count (1 .. --threads) trains
12 timed steps (after 3 warm-up steps); the fastest runs the whole epoch. The probes go to
standard error; standard output has one line per model:
"<model> <seconds per epoch> <loss> <capability>,<format>,<threads>".
Usage: torch_epoch.py [--threads 2] [--limit N] [--config CAP,FORMAT,THREADS] [models...]
"""
import argparse
import gzip
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load_images(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[4:8], "big")
    images = np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, 1, 28, 28)
    return torch.from_numpy(images.astype(np.float32) / 255.0)


def same_pad(k, s, size):
    """TF SAME padding (extra cell at the end) as (left, right)."""
    out = (size + s - 1) // s
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


class Conv(nn.Module):
    """Keras Conv2D with padding 'same' or 'valid'."""

    def __init__(self, cin, cout, k, padding="valid", act=F.relu):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k)
        self.k, self.padding, self.act = k, padding, act

    def forward(self, x):
        if self.padding == "same":
            l, r = same_pad(self.k, 1, x.shape[-1])
            x = F.pad(x, (l, r, l, r))
        return self.act(self.conv(x))


class Pool(nn.Module):
    """Keras MaxPooling2D(2) with padding 'same' (pads at the end) or 'valid'."""

    def __init__(self, padding="valid"):
        super().__init__()
        self.padding = padding

    def forward(self, x):
        if self.padding == "same" and x.shape[-1] % 2:
            x = F.pad(x, (0, 1, 0, 1), value=float("-inf"))
        return F.max_pool2d(x, 2)


class ConvT(nn.Module):
    """Keras Conv2DTranspose; 'same' output = in * stride (crop the extra cells)."""

    def __init__(self, cin, cout, k, stride=1, padding="valid", act=F.relu):
        super().__init__()
        self.conv = nn.ConvTranspose2d(cin, cout, k, stride=stride)
        self.k, self.s, self.padding, self.act = k, stride, padding, act

    def forward(self, x):
        size = x.shape[-1]
        y = self.conv(x)
        if self.padding == "same":
            total = y.shape[-1] - size * self.s
            lo = total // 2
            y = y[..., lo:lo + size * self.s, lo:lo + size * self.s]
        return self.act(y)


def upsampling_autoencoder():
    return nn.Sequential(
        Conv(1, 16, 3, "same"), Pool("same"), Conv(16, 8, 3, "same"), Pool("same"),
        Conv(8, 4, 3, "same"), Pool("same"),
        Conv(4, 4, 3, "same"), nn.Upsample(scale_factor=2), Conv(4, 8, 3, "same"),
        nn.Upsample(scale_factor=2), Conv(8, 16, 3), nn.Upsample(scale_factor=2),
        Conv(16, 1, 3, "same", act=lambda z: z))


def transpose_autoencoder():
    """The lecture's Conv2DTranspose model (examples/autoencoder_transpose.nn)."""
    return nn.Sequential(
        Conv(1, 16, 3), Pool(), Conv(16, 8, 3), Pool(), Conv(8, 4, 3),
        ConvT(4, 4, 3, 1, "same"), nn.Upsample(scale_factor=2), ConvT(4, 8, 3, 1, "same"),
        nn.Upsample(scale_factor=2), ConvT(8, 16, 3), nn.Upsample(scale_factor=2),
        ConvT(16, 1, 3, 1, "same", act=lambda z: z))


def strided_autoencoder():
    """Learned stride-2 upsampling (examples/autoencoder_strided.nn)."""
    return nn.Sequential(
        Conv(1, 16, 3), Pool(), Conv(16, 8, 3), Pool(), Conv(8, 4, 3), Conv(4, 4, 3, "same"),
        ConvT(4, 4, 2, 2, "same"), Conv(4, 8, 3, "same"), ConvT(8, 4, 3, 2, "same"),
        ConvT(4, 8, 3), ConvT(8, 8, 3, 2, "same"), Conv(8, 1, 3, "same", act=lambda z: z))


MODELS = {"autoencoder": upsampling_autoencoder, "autoencoder_transpose": transpose_autoencoder,
          "autoencoder_strided": strided_autoencoder}
FORMATS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}


def steps(model, opt, x, perm, fmt, first, count):
    """Runs training steps first .. first+count-1 of an epoch; returns the last loss."""
    loss = torch.tensor(0.0)
    for i in range(first * 256, min(len(x), (first + count) * 256), 256):
        batch = x[perm[i:i + 256]].contiguous(memory_format=fmt)
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(batch), batch)
        loss.backward()
        opt.step()
    return loss


def setup(name, fmt):
    torch.manual_seed(0)
    model = MODELS[name]().to(memory_format=fmt)
    opt = torch.optim.Adadelta(model.parameters(), lr=0.001, rho=0.95, eps=1e-7)
    return model, opt


def probe(name, x, fmt_name, threads):
    """Seconds per step of one configuration: 3 warm-up steps, then 12 timed."""
    torch.set_num_threads(threads)
    fmt = FORMATS[fmt_name]
    model, opt = setup(name, fmt)
    perm = torch.randperm(len(x))
    steps(model, opt, x, perm, fmt, 0, 3)
    start = time.perf_counter()
    steps(model, opt, x, perm, fmt, 3, 12)
    return (time.perf_counter() - start) / 12


def capabilities():
    """ATen CPU kernels this CPU can run, best first ("default" is PyTorch's own choice)."""
    flags = open("/proc/cpuinfo").read()
    caps = ["default", "avx2"]
    if " avx512f" in flags and " avx512bw" in flags and " avx512vl" in flags:
        caps.append("avx512")
    return caps


def fastest(name, args):
    """(capability, format, threads, seconds per step) of the fastest configuration; each
    capability runs in a child process, since ATen reads ATEN_CPU_CAPABILITY once."""
    best = None
    for cap in capabilities():
        env = dict(os.environ)
        env.pop("ATEN_CPU_CAPABILITY", None)
        if cap != "default":
            env["ATEN_CPU_CAPABILITY"] = cap
        cmd = [sys.executable, __file__, "--probe", "--data", args.data, "--limit",
               str(args.limit), "--max-threads", str(args.threads), name]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            fmt_name, threads, secs = line.split()
            print(f"  probe {name}: {cap:<7} {fmt_name:<13} {threads} threads "
                  f"{float(secs) * 1000:6.1f} ms/step", file=sys.stderr)
            if best is None or float(secs) < best[3]:
                best = (cap, fmt_name, int(threads), float(secs))
    return best


def epoch(name, x, fmt_name, threads):
    torch.set_num_threads(threads)
    fmt = FORMATS[fmt_name]
    model, opt = setup(name, fmt)
    with torch.no_grad():
        assert model(x[:2]).shape == (2, 1, 28, 28), name
    perm = torch.randperm(len(x))
    start = time.perf_counter()
    loss = steps(model, opt, x, perm, fmt, 0, -(-len(x) // 256))
    return time.perf_counter() - start, loss.item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N images")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--max-threads", type=int, default=2, help=argparse.SUPPRESS)
    ap.add_argument("--config", help="CAPABILITY,FORMAT,THREADS: skip the search")
    ap.add_argument("models", nargs="*", default=["autoencoder", "autoencoder_transpose"])
    args = ap.parse_args()
    x = load_images(args.data + "/train-images-idx3-ubyte.gz")
    if args.limit:
        x = x[: args.limit]
    if args.probe:
        for fmt_name in FORMATS:
            for threads in range(1, args.max_threads + 1):
                print(fmt_name, threads, probe(args.models[0], x, fmt_name, threads), flush=True)
        return
    for name in args.models:
        if args.config:
            cap, fmt_name, threads = args.config.split(",")
            threads = int(threads)
        else:
            cap, fmt_name, threads, _ = fastest(name, args)
        if cap != os.environ.get("ATEN_CPU_CAPABILITY", "default"):
            env = dict(os.environ, ATEN_CPU_CAPABILITY=cap)
            if cap == "default":
                env.pop("ATEN_CPU_CAPABILITY")
            cmd = [sys.executable, __file__, "--data", args.data, "--limit", str(args.limit),
                   "--config", f"{cap},{fmt_name},{threads}", name]
            sys.stdout.write(subprocess.run(cmd, env=env, capture_output=True, text=True,
                                            check=True).stdout)
            sys.stdout.flush()
            continue
        secs, loss = epoch(name, x, fmt_name, threads)
        print(f"{name} {secs:.2f} {loss:.4f} {cap},{fmt_name},{threads}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
