#!/usr/bin/env python3
"""Writes the seed corpora of the reader fuzz targets: small valid files of each format.

    fuzz/make_corpus.py [CORPUS_DIR]      (default: fuzz/corpus next to this script)

Each seed goes to CORPUS_DIR/NAME/seed-*: safetensors files, checkpoint metadata (as the
NUL-separated pairs fuzz_checkpoint reads), IDX image and label files (raw and gzip),
loss-history CSVs, PNG images of every colour type, and .npy files and .npz archives (stored and
deflated). Besides the standard library it uses python3-xxhash (checkpoints keep each tensor's
XXH3-64 hash), and the output is the same on every run (gzip and zip timestamps are fixed).
"""
import gzip
import json
import os
import struct
import sys
import zipfile
import io
import zlib

import xxhash


def safetensors(tensors, metadata=None, dtype="F32", hashes=False):
    """A safetensors file: tensors maps name -> (shape, values); header padded to 8. With
    `hashes`, the metadata gets each tensor's "xxh3.NAME", as a checkpoint has."""
    header, data = {}, b""
    fmt = "<f" if dtype == "F32" else "<d"
    metadata = dict(metadata) if metadata else metadata
    for name in sorted(tensors):
        shape, values = tensors[name]
        blob = b"".join(struct.pack(fmt, v) for v in values)
        if hashes:
            metadata["xxh3." + name] = xxhash.xxh3_64_hexdigest(blob)
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def checkpoint_metadata(epoch, step, batch=32, loss_sum=0.0, accuracy=False):
    history = "".join(f"{e},{0.5 / e:.9g},{0.6 / e:.9g},{1.25 * e:.3f}" +
                      (f",{0.9 - 0.1 / e:.9g},{0.85:.9g}" if accuracy else "") + "\n"
                      for e in range(1, epoch + 1))
    return {
        "format": "nnc-checkpoint-2", "model": "tiny", "model_hash": "fnv1a64:0123456789abcdef",
        "optimizer": "adam", "epoch": str(epoch), "step": str(step),
        "global_step": str(epoch * 7 + step), "seed": "42", "batch": str(batch),
        "rng": "splitmix64:5eed5415ffe5a11d", "partial_loss_sum": float.hex(loss_sum),
        "partial_count": str(step * batch), "history": history,
        "data": "mnist", "epochs": str(epoch + 3), "lr": float.hex(0.005) if step else "",
        "shuffle": "true", "validation_split": float.hex(0.25) if accuracy else "",
        "partial_seconds": float.hex(0.125 * step), "metrics": "accuracy" if accuracy else "",
        "partial_correct": str(step * batch // 2 if accuracy else 0),
        "partial_compared": str(step * batch if accuracy else 0),
    }


def pairs(metadata):
    """The NUL-separated key/value form fuzz_checkpoint reads."""
    return b"\0".join(f"{k}\0{v}".encode() for k, v in metadata.items())


def idx_images(count, rows, cols):
    pixels = bytes((i * 7 + 3) % 256 for i in range(count * rows * cols))
    return struct.pack(">IIII", 0x803, count, rows, cols) + pixels


def idx_labels(labels):
    return struct.pack(">II", 0x801, len(labels)) + bytes(labels)


def gz(raw):
    return gzip.compress(raw, mtime=0)


def png(width, height, color_type, depth, rows, palette=None, trns=None, interlace=0):
    """A PNG with filter type 0 on every row; rows are the raw bytes of each scanline."""
    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff))
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, interlace)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if palette:
        out += chunk(b"PLTE", palette)
    if trns:
        out += chunk(b"tRNS", trns)
    out += chunk(b"IDAT", zlib.compress(b"".join(b"\0" + r for r in rows)))
    return out + chunk(b"IEND", b"")


def npy(shape, data, major=1, descr="|u1"):
    """A .npy file of `data` (bytes) with the header numpy writes, padded to 64 bytes."""
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    size_bytes = 2 if major == 1 else 4
    header += " " * ((-(10 + size_bytes - 2 + len(header) + 1)) % 64) + "\n"
    length = struct.pack("<H" if major == 1 else "<I", len(header))
    return b"\x93NUMPY" + bytes([major, 0]) + length + header.encode("latin1") + data


def npz(members, method):
    """A zip archive of (name, bytes) members with fixed timestamps."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            z.writestr(info, data)
    return out.getvalue()


def seeds():
    kernel = [0.25 * i - 1 for i in range(8)]
    yield "safetensors", "empty", safetensors({})
    yield "safetensors", "weights", safetensors(
        {"dense.kernel": ([2, 4], kernel), "dense.bias": ([4], [0.0, 0.5, -0.5, 1.0])},
        {"model": "tiny", "seed": "42"})
    yield "safetensors", "f64", safetensors({"g": ([3], [0.1, -1 / 3, 1e-300]),
                                             "s": ([], [42.0])}, {"kind": "gradients"}, "F64")
    yield "safetensors", "zero-size", safetensors({"e": ([0, 5], []), "x": ([1, 1, 1], [2.0])})
    yield "safetensors", "huge-empty", safetensors({"e": ([1 << 62, 0], [])})
    yield "safetensors", "checkpoint", safetensors(
        {"dense.kernel": ([2, 4], kernel), "dense.kernel.m": ([2, 4], [0.0] * 8)},
        checkpoint_metadata(2, 0), "F64", hashes=True)

    yield "checkpoint", "boundary", pairs(checkpoint_metadata(2, 0))
    yield "checkpoint", "mid-epoch", pairs(checkpoint_metadata(3, 5, 16, 2.75, accuracy=True))
    yield "checkpoint", "start", pairs(checkpoint_metadata(0, 1, 1, 0.693147))

    yield "idx", "images", idx_images(3, 2, 3)
    yield "idx", "images-gz", gz(idx_images(4, 3, 5))
    yield "idx", "images-two-members", gz(idx_images(2, 2, 2)[:20]) + gz(idx_images(2, 2, 2)[20:])
    yield "idx", "labels", idx_labels([1, 2, 3, 9, 0])
    yield "idx", "labels-gz", gz(idx_labels([4, 4, 7]))

    yield "history", "header", b"epoch,loss,val_loss,seconds\n1,0.5,0.25,1.500\n2,0.125,,2.000\n"
    yield "history", "rows", b"1,0.6964,0.6959,7\n2,0.6955,0.6950,2\n3,0.6946,0.6941,2\n"
    yield "history", "accuracy", (b"epoch,loss,val_loss,seconds,accuracy,val_accuracy\n"
                                  b"1,0.5,0.25,1.500,0.75,0.8\n2,0.125,,2.000,0.875,\n")
    yield "history", "crlf", b"epoch,loss,val_loss,seconds\r\n1,0x1p-1,1e-3,0\r\n5,2.5e+00,,12.25\r\n"

    gray = [bytes((x * 40 + y * 9) % 256 for x in range(5)) for y in range(3)]
    yield "png", "gray8", png(5, 3, 0, 8, gray)
    yield "png", "gray1", png(9, 2, 0, 1, [b"\xa5\x80", b"\x5a\x00"])
    yield "png", "gray16", png(2, 2, 0, 16, [b"\x12\x34\xff\xff", b"\x00\x00\x80\x00"])
    yield "png", "rgb8", png(2, 2, 2, 8, [bytes(range(6)), bytes(range(250, 256))])
    yield "png", "rgba8", png(2, 1, 6, 8, [b"\xff\x00\x00\x80\x00\xff\x00\xff"])
    yield "png", "gray-alpha8", png(2, 1, 4, 8, [b"\x40\xff\xc0\x00"])
    yield "png", "palette", png(4, 1, 3, 2, [b"\x1b"], palette=b"\x00\x00\x00\xff\x00\x00"
                                b"\x00\xff\x00\x00\x00\xff", trns=b"\xff\x80")
    yield "png", "interlaced", png(1, 1, 2, 8, [b"\x10\x20\x30"], interlace=1)


def npz_seeds():
    a = npy("(2, 3)", bytes(range(6)))
    yield "npz", "npy-v1", a
    yield "npz", "npy-v2", npy("(4,)", b"\x01\x02\x03\x04", major=2)
    yield "npz", "stored", npz([("a.npy", a)], zipfile.ZIP_STORED)
    yield "npz", "deflated", npz([("a.npy", a), ("b.npy", npy("(1, 1, 1)", b"\x09"))],
                                 zipfile.ZIP_DEFLATED)


def pgm_seeds():
    yield "pgm", "p5", b"P5\n# a comment\n3 2\n255\n" + bytes([0, 16, 32, 48, 64, 255])
    yield "pgm", "p2", b"P2 2 2 15\n0 15\n7 8\n"
    yield "pgm", "p5-16bit", b"P5 2 1 65535\n" + bytes([0x80, 0x00, 0xff, 0xff])


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
    for name, seed, data in list(seeds()) + list(npz_seeds()) + list(pgm_seeds()):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        with open(os.path.join(root, name, "seed-" + seed), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
