"""Reads safetensors files (F32/F64) into NumPy arrays: shared by the parity test and bench/."""
import json
import struct

import numpy as np


def read_safetensors(path, dtype):
    """The tensors of a safetensors file converted to `dtype`, and its metadata."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        stored = {"F32": np.float32, "F64": np.float64}[info["dtype"]]
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(body[b:e], dtype=stored).reshape(info["shape"]).astype(dtype)
    return out, header.get("__metadata__", {})
