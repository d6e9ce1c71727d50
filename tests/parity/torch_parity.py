#!/usr/bin/python3
"""PyTorch parity check of nnc's reference interpreter.

For both lecture autoencoders, the stride-2 variant of the second (and small models for
bilinear upsampling, leaky_relu and elu, global_avgpool2d, zero_padding2d and cropping2d): `nnc init` writes Keras-default weights, random inputs are
written as safetensors, `nnc eval --backend=interp --grads` prints the loss and writes the
gradients; the same model built in PyTorch float64 from those weights (Keras layouts converted
to PyTorch's, TF "same" padding done with explicit F.pad) must give the same loss and
gradients within a relative 1e-5. Exits 77 (skipped) when PyTorch is not installed.

usage: torch_parity.py NNC_BINARY SOURCE_DIR
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    import safetensors_np
except ImportError:
    print("torch_parity: PyTorch or NumPy is not installed; skipping")
    sys.exit(77)

TOLERANCE = 1e-5


def read_safetensors(path):
    return safetensors_np.read_safetensors(path, np.float64)[0]


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        raw = np.ascontiguousarray(tensors[name], dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def same_pad(size, kernel, stride, dilation=1):
    """TF SAME padding (before, after) along one axis: the extra cell goes at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def conv2d(x, p, name, kernel, padding="valid", strides=1):
    w = p[name + ".kernel"].permute(3, 2, 0, 1).contiguous()  # [kh,kw,in,out] -> [out,in,kh,kw]
    if padding == "same":
        ph, pw = same_pad(x.shape[2], kernel, strides), same_pad(x.shape[3], kernel, strides)
        x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]))
    return F.conv2d(x, w, p[name + ".bias"], stride=strides)


def conv2d_transpose(x, p, name, kernel, padding="valid", strides=1):
    w = p[name + ".kernel"].permute(3, 2, 0, 1).contiguous()  # [kh,kw,out,in] -> [in,out,kh,kw]
    full = F.conv_transpose2d(x, w, stride=strides)  # (in - 1) * s + k, no padding
    outs = []
    for axis in (2, 3):
        size = x.shape[axis]
        out = size * strides if padding == "same" else size * strides + max(kernel - strides, 0)
        before = same_pad(out, kernel, strides)[0] if padding == "same" else 0
        outs.append((out, before))
    (oh, bh), (ow, bw) = outs
    y = full[:, :, bh:bh + oh, bw:bw + ow]
    y = F.pad(y, (0, ow - y.shape[3], 0, oh - y.shape[2]))
    return y + p[name + ".bias"].view(1, -1, 1, 1)


def maxpool(x, padding="valid"):
    if padding == "same":
        ph, pw = same_pad(x.shape[2], 2, 2), same_pad(x.shape[3], 2, 2)
        x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]), value=float("-inf"))
    return F.max_pool2d(x, 2, 2)


def up(x):
    return F.interpolate(x, scale_factor=2, mode="nearest")


def autoencoder(x, p):
    h = maxpool(F.relu(conv2d(x, p, "conv2d", 3, "same")), "same")
    h = maxpool(F.relu(conv2d(h, p, "conv2d_1", 3, "same")), "same")
    code = maxpool(F.relu(conv2d(h, p, "conv2d_2", 3, "same")), "same")
    h = up(F.relu(conv2d(code, p, "conv2d_3", 3, "same")))
    h = up(F.relu(conv2d(h, p, "conv2d_4", 3, "same")))
    h = up(F.relu(conv2d(h, p, "conv2d_5", 3)))
    return conv2d(h, p, "conv2d_6", 3, "same")  # logits; the sigmoid folds into the loss


def autoencoder_transpose(x, p):
    h = maxpool(F.relu(conv2d(x, p, "conv2d", 3)))
    h = maxpool(F.relu(conv2d(h, p, "conv2d_1", 3)))
    code = F.relu(conv2d(h, p, "conv2d_2", 3))
    h = up(F.relu(conv2d_transpose(code, p, "conv2d_transpose", 3, "same")))
    h = up(F.relu(conv2d_transpose(h, p, "conv2d_transpose_1", 3, "same")))
    h = up(F.relu(conv2d_transpose(h, p, "conv2d_transpose_2", 3)))
    return conv2d_transpose(h, p, "conv2d_transpose_3", 3, "same")


def autoencoder_strided(x, p):
    h = maxpool(F.relu(conv2d(x, p, "conv2d", 3)))
    h = maxpool(F.relu(conv2d(h, p, "conv2d_1", 3)))
    h = F.relu(conv2d(h, p, "conv2d_2", 3))
    code = F.relu(conv2d(h, p, "conv2d_3", 3, "same"))
    h = F.relu(conv2d_transpose(code, p, "conv2d_transpose", 2, "same", 2))
    h = F.relu(conv2d(h, p, "conv2d_4", 3, "same"))
    h = F.relu(conv2d_transpose(h, p, "conv2d_transpose_1", 3, "same", 2))
    h = F.relu(conv2d_transpose(h, p, "conv2d_transpose_2", 3))
    h = F.relu(conv2d_transpose(h, p, "conv2d_transpose_3", 3, "same", 2))
    return conv2d(h, p, "conv2d_5", 3, "same")


# A small model for TF2 bilinear upsampling (half-pixel centers), which PyTorch's
# align_corners=False interpolation matches when scaling up.
BILINEAR_NN = """model bilinear
input x: [3, 5, 2]
input t: [9, 15, 2]
h = upsample2d(x, size=2, interpolation=bilinear)
h = conv2d(h, filters=3, kernel=3, padding=same, activation=relu)
h = upsample2d(h, size=3, interpolation=bilinear)
y = conv2d(h, filters=2, kernel=3, strides=2, padding=same, activation=sigmoid)
output y
loss binary_crossentropy(y, t)
"""


def bilinear(x, p):
    h = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    h = F.relu(conv2d(h, p, "conv2d", 3, "same"))
    h = F.interpolate(h, scale_factor=3, mode="bilinear", align_corners=False)
    return conv2d(h, p, "conv2d_1", 3, "same", 2)


# Keras's LeakyReLU (alpha 0.3 by default) and ELU (alpha 1.0), as layers and as activation=.
SLOPES_NN = """model slopes
input x: [6, 6, 2]
input t: [4, 4, 1]
h = conv2d(x, filters=3, kernel=3, activation=leaky_relu)
h = elu(h, alpha=0.7)
h = conv2d(h, filters=2, kernel=3, padding=same, activation=elu)
h = leaky_relu(h, alpha=0.05)
y = conv2d(h, filters=1, kernel=1, activation=sigmoid)
output y
loss binary_crossentropy(y, t)
"""


def slopes(x, p):
    h = F.leaky_relu(conv2d(x, p, "conv2d", 3), 0.3)
    h = F.elu(h, 0.7)
    h = F.elu(conv2d(h, p, "conv2d_1", 3, "same"), 1.0)
    h = F.leaky_relu(h, 0.05)
    return conv2d(h, p, "conv2d_2", 1)


# Keras's GlobalAveragePooling2D: the mean of each channel over the image.
GAP_NN = """model gap
input x: [5, 6, 2]
input t: [3]
h = conv2d(x, filters=4, kernel=3, padding=same, activation=relu)
h = global_avgpool2d(h)
y = dense(h, units=3, activation=sigmoid)
output y
loss binary_crossentropy(y, t)
"""


def gap(x, p):
    h = F.relu(conv2d(x, p, "conv2d", 3, "same")).mean(dim=(2, 3))
    return h @ p["dense.kernel"] + p["dense.bias"]


# Keras's ZeroPadding2D and Cropping2D, with the three ways of giving margins.
MARGINS_NN = """model margins
input x: [5, 6, 2]
input t: [5, 2, 2]
h = zero_padding2d(x, padding=((1, 2), (0, 1)))
h = conv2d(h, filters=3, kernel=3, activation=tanh)
h = cropping2d(h, cropping=(1, 2))
h = zero_padding2d(h, 1)
h = cropping2d(h, cropping=((1, 0), (0, 1)))
y = conv2d(h, filters=2, kernel=1, activation=sigmoid)
output y
loss binary_crossentropy(y, t)
"""


def margins(x, p):
    h = F.pad(x, (0, 1, 1, 2))  # (left, right, top, bottom)
    h = torch.tanh(conv2d(h, p, "conv2d", 3))
    h = h[:, :, 1:h.shape[2] - 1, 2:h.shape[3] - 2]
    h = F.pad(h, (1, 1, 1, 1))
    h = h[:, :, 1:, :h.shape[3] - 1]
    return conv2d(h, p, "conv2d_1", 1)


def check(nnc, tmp, nn, model, build, shapes, seed):
    w_path, x_path, g_path = (os.path.join(tmp, model + s) for s in ("_w.st", "_x.st", "_g.st"))
    subprocess.run([nnc, "init", nn, "--seed", str(seed), "--out", w_path], check=True,
                   stdout=subprocess.DEVNULL)
    rng = np.random.default_rng(seed)
    inputs = {k: rng.random(s).astype(np.float32) for k, s in shapes.items()}
    write_safetensors(x_path, inputs)
    out = subprocess.run([nnc, "eval", nn, "--weights", w_path, "--inputs", x_path, "--grads",
                          g_path, "--backend=interp"], check=True, capture_output=True, text=True)
    nnc_loss = float(out.stdout.split()[-1])
    nnc_grads = read_safetensors(g_path)

    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
              for k, v in read_safetensors(w_path).items()}
    # NHWC -> NCHW; the first input is the image, the last one the target.
    ts = [torch.tensor(inputs[k].astype(np.float64)) for k in shapes]
    ts = [t.permute(0, 3, 1, 2) if t.dim() == 4 else t for t in ts]
    logits = build(ts[0], params)
    loss = F.binary_cross_entropy_with_logits(logits, ts[-1])  # mean over every element
    loss.backward()

    failures = []
    rel = abs(nnc_loss - loss.item()) / abs(loss.item())
    print(f"{model}: loss nnc {nnc_loss:.12g} torch {loss.item():.12g} rel {rel:.2e}")
    if rel > TOLERANCE:
        failures.append(f"{model}: loss differs by {rel:.2e}")
    for name, t in sorted(params.items()):
        g = t.grad.numpy()  # the leaves are the Keras-layout tensors
        a = nnc_grads[name]
        err = np.abs(a - g).max() / max(np.abs(g).max(), 1e-30)
        print(f"  {name:28s} max |diff| / max |grad| = {err:.2e}")
        if a.shape != g.shape or err > TOLERANCE:
            failures.append(f"{model}: gradient of {name} differs by {err:.2e}")
    return failures


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    nnc, src = sys.argv[1], sys.argv[2]
    failures = []
    image = {"x": (2, 28, 28, 1)}
    with tempfile.TemporaryDirectory() as tmp:
        for model, build, seed in (("autoencoder", autoencoder, 7),
                                   ("autoencoder_transpose", autoencoder_transpose, 8),
                                   ("autoencoder_strided", autoencoder_strided, 10)):
            nn = os.path.join(src, "examples", model + ".nn")
            failures += check(nnc, tmp, nn, model, build, image, seed)
        nn = os.path.join(tmp, "bilinear.nn")
        with open(nn, "w") as f:
            f.write(BILINEAR_NN)
        failures += check(nnc, tmp, nn, "bilinear", bilinear,
                          {"x": (2, 3, 5, 2), "t": (2, 9, 15, 2)}, 9)
        nn = os.path.join(tmp, "slopes.nn")
        with open(nn, "w") as f:
            f.write(SLOPES_NN)
        failures += check(nnc, tmp, nn, "slopes", slopes,
                          {"x": (2, 6, 6, 2), "t": (2, 4, 4, 1)}, 11)
        nn = os.path.join(tmp, "gap.nn")
        with open(nn, "w") as f:
            f.write(GAP_NN)
        failures += check(nnc, tmp, nn, "gap", gap, {"x": (2, 5, 6, 2), "t": (2, 3)}, 12)
        nn = os.path.join(tmp, "margins.nn")
        with open(nn, "w") as f:
            f.write(MARGINS_NN)
        failures += check(nnc, tmp, nn, "margins", margins,
                          {"x": (2, 5, 6, 2), "t": (2, 5, 2, 2)}, 13)
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
