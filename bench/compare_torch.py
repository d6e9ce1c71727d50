#!/usr/bin/python3
"""Train a .nn model with nnc and with PyTorch from the same initial weights and compare.

`nnc init` writes the model's initial weights (the ones `nnc train --seed S` starts from);
the same model is built in PyTorch float32 from the .nn file (Keras layouts converted:
conv kernel [kh,kw,in,out] -> [out,in,kh,kw]; TF SAME padding with explicit F.pad, the
extra cell at the end; SAME max-pooling pads with -inf at the end; nearest upsampling;
binary cross-entropy on the logits of the final sigmoid, mean over all elements) and
trained with torch.optim.Adadelta, which implements Keras' Adadelta formulas. Data: the
IDX files read with gzip + numpy, scaled to [0, 1], shuffled each epoch by numpy's
generator (nnc shuffles differently, so curves are compared, not steps), batch B with the
last partial batch, validation on the test split after every epoch. Then nnc trains with
the same flags; both curves are printed side by side with seconds per epoch, the relative
difference of the final validation losses is checked against --tolerance, and DIR/compare.csv
holds both curves.

--step-check first runs K identical full-batch steps (a K-epoch run on a directory holding
only the first B training images) in both and compares the losses, the weights and the
optimizer state after them: this shows that nnc starts from the init file and that its
updates agree, without the noise of different shuffles.

OMP_WAIT_POLICY defaults to PASSIVE: on a shared, oversubscribed machine PyTorch's spinning
OpenMP threads otherwise burn several times the CPU time of the work itself.

--torch-epochs K trains PyTorch for only the first K of the --epochs epochs (nnc is the
faster one); the curves are compared over the epochs both ran.

usage: compare_torch.py [--model examples/autoencoder.nn] [--epochs 20] [--torch-epochs K]
                        [--seed 1] [--out DIR] [--step-check] [--skip-nnc | --skip-torch]
"""
import argparse
import csv
import gzip
import os
import re
import struct
import subprocess
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "parity"))
import safetensors_np  # noqa: E402


def read_safetensors(path):
    """Tensors of a safetensors file (F32/F64) as float32 numpy arrays, and its metadata."""
    return safetensors_np.read_safetensors(path, np.float32)


def read_idx(path):
    """An IDX file (images or labels, gzip or raw) as a uint8 array of its shape."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def write_idx(path, array):
    """Writes a uint8 array as a raw IDX file."""
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 8, array.ndim))
        f.write(struct.pack(">" + "I" * array.ndim, *array.shape))
        f.write(np.ascontiguousarray(array, dtype=np.uint8).tobytes())


LAYER_RE = re.compile(r"^(\w+)\s*=\s*(\w+)\((.*)\)$")


def parse_value(text):
    text = text.strip()
    if text.startswith("(") and text.endswith(")"):
        return tuple(int(v) for v in text[1:-1].split(","))
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text.strip('"')


def pair(v):
    return v if isinstance(v, tuple) else (v, v)


def parse_model(path):
    """Layers of a .nn file as (target, op, args, kwargs), plus the loss, inputs and output."""
    with open(path) as f:
        text = f.read()
    statements, depth, current = [], 0, ""
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        current += " " + line
        depth += line.count("(") + line.count("[") - line.count(")") - line.count("]")
        if depth == 0 and current.strip():
            statements.append(current.strip())
            current = ""
    layers, loss, inputs, output = [], None, [], None
    for s in statements:
        if s.startswith(("model ", "train ")):
            continue
        if s.startswith("input "):
            inputs.append(s.split()[1].rstrip(":"))
            continue
        if s.startswith("output "):
            output = s.split()[1]
            continue
        if s.startswith("loss "):
            m = re.fullmatch(r"loss\s+(\w+)\((\w+),\s*(\w+)\)", s)
            loss = m.groups()
            continue
        m = LAYER_RE.match(s)
        if not m:
            sys.exit(f"compare_torch: cannot read statement: {s}")
        target, op, argtext = m.groups()
        args, kwargs = [], {}
        for part in re.split(r",(?![^()]*\))", argtext):
            if "=" in part:
                k, v = part.split("=", 1)
                kwargs[k.strip()] = parse_value(v)
            else:
                args.append(part.strip())
        layers.append((target, op, args, kwargs))
    if loss is None or loss[0] != "binary_crossentropy":
        sys.exit("compare_torch: the model needs a binary_crossentropy loss")
    return layers, loss, inputs, output or layers[-1][0]


def same_pad(size, kernel, stride, dilation=1):
    """TF SAME padding (before, after) along one axis: the extra cell goes at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class Model(torch.nn.Module):
    """The .nn model (convolutions, pooling, upsampling) as a PyTorch module over NCHW
    tensors; forward returns the logits of the final sigmoid, which the loss folds in."""

    PARAM_OPS = ("conv2d", "conv2d_transpose")

    def __init__(self, path, weights):
        super().__init__()
        self.layers, self.loss, self.inputs, self.output = parse_model(path)
        self.params = torch.nn.ParameterDict()
        counts = {}
        self.names = []
        for target, op, args, kw in self.layers:
            name = None
            if op in self.PARAM_OPS:
                k = counts.get(op, 0)
                counts[op] = k + 1
                name = kw.get("name", op if k == 0 else f"{op}_{k}")
                # conv2d [kh,kw,in,out] -> [out,in,kh,kw]; conv2d_transpose
                # [kh,kw,out,in] -> [in,out,kh,kw]: the same permutation.
                kernel = weights[name + ".kernel"].transpose(3, 2, 0, 1)
                self.params[self.key(name, "kernel")] = torch.nn.Parameter(
                    torch.from_numpy(np.ascontiguousarray(kernel)))
                if kw.get("use_bias", "true") != "false":
                    self.params[self.key(name, "bias")] = torch.nn.Parameter(
                        torch.from_numpy(weights[name + ".bias"].copy()))
            self.names.append(name)
        last = self.layers[-1]
        if last[0] != self.output or last[3].get("activation", last[1]) != "sigmoid":
            sys.exit("compare_torch: the output must be the last layer, with a sigmoid")

    @staticmethod
    def key(name, what):
        return name.replace(".", "_") + "_" + what

    def kernel(self, name):
        return self.params[self.key(name, "kernel")]

    def bias(self, name):
        key = self.key(name, "bias")
        return self.params[key] if key in self.params else None

    def keras_tensors(self):
        """The current parameters as Keras-layout numpy arrays, named as in nnc."""
        out = {}
        for name in self.names:
            if name is None:
                continue
            out[name + ".kernel"] = self.kernel(name).detach().numpy().transpose(2, 3, 1, 0)
            if self.bias(name) is not None:
                out[name + ".bias"] = self.bias(name).detach().numpy()
        return out

    def forward(self, x):
        env = {self.inputs[0]: x}
        n = len(self.layers)
        for i, ((target, op, args, kw), name) in enumerate(zip(self.layers, self.names)):
            h = env[args[0]]
            if op == "conv2d":
                k, s = pair(kw["kernel"]), pair(kw.get("strides", 1))
                d = pair(kw.get("dilation", 1))
                if kw.get("padding", "valid") == "same":
                    ph = same_pad(h.shape[2], k[0], s[0], d[0])
                    pw = same_pad(h.shape[3], k[1], s[1], d[1])
                    h = F.pad(h, (pw[0], pw[1], ph[0], ph[1]))
                h = F.conv2d(h, self.kernel(name), self.bias(name), stride=s, dilation=d)
            elif op == "conv2d_transpose":
                h = self.conv_transpose(h, name, kw)
            elif op in ("maxpool2d", "avgpool2d"):
                p = pair(kw.get("pool", 2))
                s = pair(kw.get("strides", p))
                if kw.get("padding", "valid") == "same":
                    if op == "avgpool2d":
                        sys.exit("compare_torch: avgpool2d with padding=same is not supported")
                    ph = same_pad(h.shape[2], p[0], s[0])
                    pw = same_pad(h.shape[3], p[1], s[1])
                    h = F.pad(h, (pw[0], pw[1], ph[0], ph[1]), value=float("-inf"))
                h = F.max_pool2d(h, p, s) if op == "maxpool2d" else F.avg_pool2d(h, p, s)
            elif op == "upsample2d":
                mode = kw.get("interpolation", "nearest")
                extra = {} if mode == "nearest" else {"align_corners": False}
                h = F.interpolate(h, scale_factor=kw.get("size", 2), mode=mode, **extra)
            elif op in ("relu", "sigmoid", "tanh"):
                kw = dict(kw, activation=op)
            else:
                sys.exit(f"compare_torch: op {op} is not supported")
            act = kw.get("activation", "linear")
            if i == n - 1:
                return h  # logits of the final sigmoid
            if act == "relu":
                h = F.relu(h)
            elif act == "sigmoid":
                h = torch.sigmoid(h)
            elif act == "tanh":
                h = torch.tanh(h)
            elif act != "linear":
                sys.exit(f"compare_torch: activation {act} is not supported")
            env[target] = h
        raise AssertionError("the model has no layers")

    def conv_transpose(self, x, name, kw):
        """Keras Conv2DTranspose: the full transposed convolution cropped to Keras' size."""
        k, s = pair(kw["kernel"]), pair(kw.get("strides", 1))
        full = F.conv_transpose2d(x, self.kernel(name), stride=s)
        crops = []
        for axis in (0, 1):
            size = x.shape[2 + axis]
            if kw.get("padding", "valid") == "same":
                out = size * s[axis]
                before = same_pad(out, k[axis], s[axis])[0]
            else:
                out, before = size * s[axis] + max(k[axis] - s[axis], 0), 0
            crops.append((out, before))
        (oh, bh), (ow, bw) = crops
        y = full[:, :, bh:bh + oh, bw:bw + ow]
        y = F.pad(y, (0, ow - y.shape[3], 0, oh - y.shape[2]))
        b = self.bias(name)
        return y if b is None else y + b.view(1, -1, 1, 1)


def bce(logits, target):
    """Keras binary cross-entropy of a sigmoid output, in logits form, mean over elements."""
    return F.binary_cross_entropy_with_logits(logits, target)


def keras_adadelta(params, lr):
    """Keras Adadelta (rho 0.95, eps 1e-7): torch's Adadelta computes the same formulas."""
    return torch.optim.Adadelta(params, lr=lr, rho=0.95, eps=1e-7)


def validation_loss(model, x, batch):
    with torch.no_grad():
        total = 0.0
        for i in range(0, len(x), batch):
            xb = x[i:i + batch]
            total += bce(model(xb), xb).item() * len(xb)
    return total / len(x)


def train_torch(model, xtrain, xtest, epochs, batch, lr, seed):
    """Keras-style training; returns [(epoch, loss, val_loss, seconds)]."""
    opt = keras_adadelta(model.parameters(), lr)
    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        order = torch.from_numpy(rng.permutation(len(xtrain)))
        total = 0.0
        for i in range(0, len(xtrain), batch):
            xb = xtrain[order[i:i + batch]]
            loss = bce(model(xb), xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        val = validation_loss(model, xtest, batch)
        seconds = time.perf_counter() - start
        history.append((epoch, total / len(xtrain), val, seconds))
        print(f"torch epoch {epoch}/{epochs}: loss {total / len(xtrain):.6f} "
              f"val_loss {val:.6f} ({seconds:.1f} s)", flush=True)
    return history


def read_history(path):
    with open(path) as f:
        return [(int(r["epoch"]), float(r["loss"]), float(r["val_loss"]), float(r["seconds"]))
                for r in csv.DictReader(f)]


def run_nnc(a, data, epochs, ckpt, csv_path, log_path):
    """`nnc train` with the comparison's flags; returns its CSV history."""
    cmd = [a.nnc, "train", a.model, "--data", data, "--epochs", str(epochs), "--seed",
           str(a.seed), "--optimizer", "adadelta", "--lr", str(a.lr), "--batch", str(a.batch),
           "--threads", str(a.threads), "--checkpoint", ckpt, "--csv", csv_path]
    if a.backend:
        cmd += ["--backend", a.backend]
    print("$ " + " ".join(cmd), flush=True)
    if os.path.isdir(ckpt):
        for f in os.listdir(ckpt):
            os.remove(os.path.join(ckpt, f))
    with open(log_path, "w") as log:
        r = subprocess.run(cmd, stderr=log, stdout=log)
    with open(log_path) as log:
        text = log.read()
    if r.returncode != 0:
        sys.exit(f"compare_torch: nnc train failed ({r.returncode}):\n{text}")
    header = [line for line in text.splitlines() if "backend" in line]
    if header:
        print("nnc: " + header[0].strip(), flush=True)
    return read_history(csv_path)


def latest_checkpoint(ckpt):
    with open(os.path.join(ckpt, "latest")) as f:
        return os.path.join(ckpt, f.read().strip())


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-30)


def step_check(a, init, train_u8, test_u8):
    """K full-batch steps on the first B training images in both; True when they agree."""
    k = a.check_steps
    d = os.path.join(a.out, "onestep")
    os.makedirs(d, exist_ok=True)
    first, val_u8 = train_u8[:a.batch], test_u8[:1000]
    write_idx(os.path.join(d, "train-images-idx3-ubyte"), first)
    write_idx(os.path.join(d, "train-labels-idx1-ubyte"), np.zeros(len(first), np.uint8))
    write_idx(os.path.join(d, "t10k-images-idx3-ubyte"), val_u8)
    write_idx(os.path.join(d, "t10k-labels-idx1-ubyte"), np.zeros(len(val_u8), np.uint8))
    ckpt = os.path.join(d, "nnc")
    rows = run_nnc(a, d, k, ckpt, os.path.join(d, "nnc.csv"), os.path.join(d, "nnc.log"))
    nnc_t, _ = read_safetensors(latest_checkpoint(ckpt))

    model = Model(a.model, init)
    x = torch.from_numpy(first.astype(np.float32)[:, None] / 255.0)
    xv = torch.from_numpy(val_u8.astype(np.float32)[:, None] / 255.0)
    opt = keras_adadelta(model.parameters(), a.lr)
    ok = True
    print(f"\nstep check: {k} full-batch steps on the first {len(first)} training images "
          f"(loss before each step, val_loss on {len(val_u8)} test images after it)")
    print(f"{'step':>4} {'nnc loss':>12} {'torch loss':>12} {'rel':>9} "
          f"{'nnc val':>12} {'torch val':>12} {'rel':>9}")
    for step in range(k):
        loss = bce(model(x), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        val = validation_loss(model, xv, a.batch)
        _, nl, nv, _ = rows[step]
        print(f"{step + 1:>4} {nl:>12.8f} {loss.item():>12.8f} {rel(nl, loss.item()):>9.2e} "
              f"{nv:>12.8f} {val:>12.8f} {rel(nv, val):>9.2e}")
        ok &= rel(nl, loss.item()) < 1e-4 and rel(nv, val) < 1e-4
    torch_t = model.keras_tensors()
    state = {}
    for name in model.names:
        if name is None:
            continue
        for what in ("kernel", "bias"):
            p = model.kernel(name) if what == "kernel" else model.bias(name)
            if p is None:
                continue
            st = opt.state[p]
            keras = (lambda t: t.transpose(2, 3, 1, 0)) if what == "kernel" else (lambda t: t)
            state[f"{name}.{what}.accum_grad"] = keras(st["square_avg"].numpy())
            state[f"{name}.{what}.accum_var"] = keras(st["acc_delta"].numpy())
    print(f"\n{'tensor':<20} {'max|nnc-init|':>13} {'max|torch-init|':>15} {'update rel err':>14} "
          f"{'accum_grad rel':>14} {'accum_var rel':>13}")
    for name in sorted(torch_t):
        p0, pn, pt = init[name], nnc_t[name], torch_t[name]
        upd_t, upd_n = pt - p0, pn - p0
        upd_err = np.abs(upd_n - upd_t).max() / max(np.abs(upd_t).max(), 1e-30)
        errs = []
        for slot in ("accum_grad", "accum_var"):
            sn, stt = nnc_t.get(f"{name}.{slot}"), state[f"{name}.{slot}"]
            errs.append(np.abs(sn - stt).max() / max(np.abs(stt).max(), 1e-30)
                        if sn is not None else float("nan"))
        print(f"{name:<20} {np.abs(pn - p0).max():>13.3e} {np.abs(upd_t).max():>15.3e} "
              f"{upd_err:>14.3e} {errs[0]:>14.3e} {errs[1]:>13.3e}")
        ok &= bool(upd_err < 0.05 and all(e < 1e-2 for e in errs))
    print("step check: " + ("PASS" if ok else "FAIL") + "\n", flush=True)
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--model", default=os.path.join(REPO, "examples/autoencoder.nn"))
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--torch-epochs", type=int, default=0,
                   help="epochs of PyTorch when fewer than --epochs (it is the slower one)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.001)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--nnc", default=os.path.join(REPO, "build/nnc"))
    p.add_argument("--backend", default="", help="nnc --backend (default: nnc's default)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=os.path.join(REPO, "runs/compare_torch"))
    p.add_argument("--tolerance", type=float, default=0.05)
    p.add_argument("--step-check", action="store_true")
    p.add_argument("--check-steps", type=int, default=3)
    p.add_argument("--skip-nnc", action="store_true", help="reuse DIR/nnc.csv")
    p.add_argument("--skip-torch", action="store_true", help="reuse DIR/torch.csv")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)

    init_path = os.path.join(a.out, "init.safetensors")
    cmd = [a.nnc, "init", a.model, "--seed", str(a.seed), "--out", init_path]
    print("$ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    init, _ = read_safetensors(init_path)

    def images(prefix):
        for name in (prefix + "-images-idx3-ubyte.gz", prefix + "-images-idx3-ubyte"):
            if os.path.exists(os.path.join(a.data, name)):
                return read_idx(os.path.join(a.data, name))
        sys.exit(f"compare_torch: no {prefix} images in {a.data}")

    train_u8, test_u8 = images("train"), images("t10k")
    xtrain = torch.from_numpy(train_u8.astype(np.float32)[:, None] / 255.0)
    xtest = torch.from_numpy(test_u8.astype(np.float32)[:, None] / 255.0)
    steps = -(-len(xtrain) // a.batch)
    print(f"data {a.data}: {len(xtrain)} train / {len(xtest)} test, batch {a.batch}, "
          f"{steps} steps per epoch; Adadelta lr {a.lr}; seed {a.seed}; {a.threads} threads")

    step_ok = step_check(a, init, train_u8, test_u8) if a.step_check else None

    torch_csv = os.path.join(a.out, "torch.csv")
    if a.skip_torch:
        th = read_history(torch_csv)
    else:
        model = Model(a.model, init)
        print(f"torch: {sum(p.numel() for p in model.parameters())} params, "
              f"initial val_loss {validation_loss(model, xtest, a.batch):.6f}", flush=True)
        th = train_torch(model, xtrain, xtest, a.torch_epochs or a.epochs, a.batch, a.lr,
                         a.seed)
        with open(torch_csv, "w") as f:
            f.write("epoch,loss,val_loss,seconds\n")
            for row in th:
                f.write("%d,%.9g,%.9g,%.3f\n" % row)

    nnc_csv = os.path.join(a.out, "nnc.csv")
    if a.skip_nnc:
        nh = read_history(nnc_csv)
    else:
        nh = run_nnc(a, a.data, a.epochs, os.path.join(a.out, "nnc"), nnc_csv,
                     os.path.join(a.out, "nnc.log"))

    n = min(len(th), len(nh))
    print(f"\n{'epoch':>5} | {'nnc loss':>10} {'nnc val':>10} {'s':>6} | "
          f"{'torch loss':>10} {'torch val':>10} {'s':>6} | {'val rel':>8}")
    with open(os.path.join(a.out, "compare.csv"), "w") as f:
        f.write("epoch,nnc_loss,nnc_val_loss,nnc_seconds,torch_loss,torch_val_loss,"
                "torch_seconds,val_rel_diff\n")
        for (e, nl, nv, ns), (_, tl, tv, ts) in zip(nh[:n], th[:n]):
            r = (nv - tv) / tv
            print(f"{e:>5} | {nl:>10.6f} {nv:>10.6f} {ns:>6.1f} | {tl:>10.6f} {tv:>10.6f} "
                  f"{ts:>6.1f} | {r:>+8.2%}")
            f.write(f"{e},{nl:.9g},{nv:.9g},{ns:.3f},{tl:.9g},{tv:.9g},{ts:.3f},{r:.6g}\n")
    nv, tv = nh[n - 1][2], th[n - 1][2]
    diff = abs(nv - tv) / tv
    ok = diff <= a.tolerance
    print(f"\nseconds per epoch: nnc {np.mean([r[3] for r in nh[:n]]):.1f}, "
          f"torch {np.mean([r[3] for r in th[:n]]):.1f}")
    print(f"final val_loss after {n} epochs: nnc {nv:.6f}, torch {tv:.6f}, relative difference "
          f"{diff:.2%} (tolerance {a.tolerance:.0%}): {'PASS' if ok else 'FAIL'}")
    if step_ok is False:
        print("step check: FAIL")
    sys.exit(0 if ok and step_ok is not False else 1)


if __name__ == "__main__":
    main()
