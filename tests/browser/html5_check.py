#!/usr/bin/env python3
"""The pages of `nnc explore` are valid HTML (ctest explore.html5): each parses with html5lib,
the WHATWG HTML parser, without a single parse error, has exactly one doctype, one <title> in
<head>, unique element ids, and no element that loads anything (src, href to a document,
<link>, <iframe>, <object>, <embed>) except inline data: images.

Usage: html5_check.py NNC SOURCE_DIR OUT_DIR; exits 77 (skipped) without python3-html5lib."""
import collections
import os
import subprocess
import sys

try:
    import html5lib
except ImportError:
    print("SKIP: python3-html5lib is not installed")
    sys.exit(77)

nnc, src, out = sys.argv[1:4]
os.makedirs(out, exist_ok=True)
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


for model, extra in [("autoencoder", ["--profile", "--steps", "1"]), ("boxes", [])]:
    page = os.path.join(out, f"html5-{model}.html")
    subprocess.run([nnc, "explore", f"examples/{model}.nn", "--out", page, *extra],
                   cwd=src, check=True, stdout=subprocess.DEVNULL)
    with open(page, "rb") as f:
        text = f.read()
    parser = html5lib.HTMLParser(strict=False, namespaceHTMLElements=False)
    doc = parser.parse(text)
    errors = [f"{pos}: {code}" for pos, code, _ in parser.errors]
    check(not errors, f"{model}: no HTML parse error ({'; '.join(errors[:5]) or 'none'})")
    check(text.count(b"<!DOCTYPE html>") == 1, f"{model}: one doctype")
    check(len(doc.findall("./head/title")) == 1, f"{model}: one <title> in <head>")
    ids = collections.Counter(e.get("id") for e in doc.iter() if e.get("id"))
    dup = [i for i, n in ids.items() if n > 1]
    check(not dup, f"{model}: unique element ids ({', '.join(dup) or 'all unique'})")
    loaders = [e.tag for e in doc.iter() if isinstance(e.tag, str) and (
        e.tag in ("link", "iframe", "object", "embed")
        or (e.get("src") and not e.get("src").startswith("data:"))
        or (e.get("href") and not e.get("href").startswith("#")))]
    check(not loaders, f"{model}: nothing that loads a resource ({', '.join(loaders) or 'none'})")

print(f"{len(failures)} checks failed" if failures else "all checks passed")
sys.exit(1 if failures else 0)
