#!/usr/bin/python3
"""One epoch of the lecture's autoencoders in PyTorch, as the baseline for bench/train_epoch.sh.

Same models as examples/autoencoder.nn (UpSampling2D decoder) and
examples/autoencoder_transpose.nn (Conv2DTranspose decoder), same data (full Fashion-MNIST
training split scaled to [0, 1]), batch 256, Adadelta (lr 0.001, rho 0.95, eps 1e-7, as
Keras), binary cross-entropy. Prints one line per model: "<model> <seconds per epoch> <loss>".
Usage: torch_epoch.py [--threads 2] [--limit N] [models...]
"""
import argparse
import gzip
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

    def __init__(self, cin, cout, k, stride=1, padding="valid"):
        super().__init__()
        self.conv = nn.ConvTranspose2d(cin, cout, k, stride=stride)
        self.k, self.s, self.padding = k, stride, padding

    def forward(self, x):
        size = x.shape[-1]
        y = self.conv(x)
        if self.padding == "same":
            total = y.shape[-1] - size * self.s
            lo = total // 2
            y = y[..., lo:lo + size * self.s, lo:lo + size * self.s]
        return F.relu(y)


def upsampling_autoencoder():
    return nn.Sequential(
        Conv(1, 16, 3, "same"), Pool("same"), Conv(16, 8, 3, "same"), Pool("same"),
        Conv(8, 4, 3, "same"), Pool("same"),
        Conv(4, 4, 3, "same"), nn.Upsample(scale_factor=2), Conv(4, 8, 3, "same"),
        nn.Upsample(scale_factor=2), Conv(8, 16, 3), nn.Upsample(scale_factor=2),
        Conv(16, 1, 3, "same", act=lambda z: z))


def transpose_autoencoder():
    return nn.Sequential(
        Conv(1, 16, 3), Pool(), Conv(16, 8, 3), Pool(), Conv(8, 4, 3), Conv(4, 4, 3, "same"),
        ConvT(4, 4, 2, 2, "same"), Conv(4, 8, 3, "same"), ConvT(8, 4, 3, 2, "same"),
        ConvT(4, 8, 3), ConvT(8, 8, 3, 2, "same"), Conv(8, 1, 3, "same", act=lambda z: z))


MODELS = {"autoencoder": upsampling_autoencoder, "autoencoder_transpose": transpose_autoencoder}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N images")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("models", nargs="*", default=list(MODELS))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = load_images(args.data + "/train-images-idx3-ubyte.gz")
    if args.limit:
        x = x[: args.limit]
    for name in args.models:
        model = MODELS[name]()
        with torch.no_grad():
            assert model(x[:2]).shape == (2, 1, 28, 28), name
        opt = torch.optim.Adadelta(model.parameters(), lr=0.001, rho=0.95, eps=1e-7)
        perm = torch.randperm(len(x))
        start = time.perf_counter()
        loss = torch.tensor(0.0)
        for i in range(0, len(x), 256):
            batch = x[perm[i:i + 256]]
            opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(model(batch), batch)
            loss.backward()
            opt.step()
        secs = time.perf_counter() - start
        print(f"{name} {secs:.2f} {loss.item():.4f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
