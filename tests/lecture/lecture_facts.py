#!/usr/bin/python3
"""The lecture's facts, checked as the README states them.

The README's table "The lecture, one command per fact" has one row per command: the fact's
number (as in ../shared/lecture/facts.md), the fact, the command, and what nnc prints
(each `backticked` string must appear in the command's output). `lecture_facts.py NNC SRC N`
runs every command of fact N with bash, `nnc` on the PATH, in an empty scratch directory that
links SRC's examples/, and fails on a missing string or a non-zero exit. For the two
autoencoders (facts 7 and 11) it also reads the Keras model.summary() rows of facts.md and
compares them with nnc's summary row for row: layer type, output shape and Param # (layer
names differ; Keras 2 cuts a type to 13 characters, so nnc's type must start with it).

usage: lecture_facts.py NNC_BINARY SOURCE_DIR FACT
"""
import os
import re
import subprocess
import sys
import tempfile

KERAS_SUMMARY_FACTS = {"7": "examples/autoencoder.nn", "11": "examples/autoencoder_transpose.nn"}
ROW = re.compile(r"^\|\s*(\d+)\s*\|(.*)\|\s*`([^`]+)`\s*\|(.*)\|\s*$")
SUMMARY_ROW = re.compile(r"^\s*(\w+) \((\w+)\)?\s+\[?(\((?:None|\d+)[\d, ]*\))\]?\s+([\d,]+)")


def readme_rows(src, fact):
    """(command, [expected strings]) of the README rows for `fact`."""
    rows, inside = [], False
    with open(os.path.join(src, "README.md"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("## "):
                inside = line.startswith("## The lecture, one command per fact")
                continue
            m = ROW.match(line) if inside else None
            if m and m.group(1) == fact:
                rows.append((m.group(3), re.findall(r"`([^`]+)`", m.group(4))))
    return rows


def run(nnc, src, command):
    """stdout + stderr and exit code of `command` run by bash in a scratch directory."""
    with tempfile.TemporaryDirectory() as tmp:
        os.symlink(os.path.join(src, "examples"), os.path.join(tmp, "examples"))
        env = dict(os.environ, PATH=os.path.dirname(nnc) + ":" + os.environ.get("PATH", ""))
        r = subprocess.run(["bash", "-c", "set -e; " + command], cwd=tmp, env=env,
                           capture_output=True, text=True, timeout=600)
        return r.stdout + r.stderr, r.returncode


def keras_rows(src, fact):
    """(type, shape, params) of the Keras summary rows of `fact` in facts.md."""
    path = os.path.join(src, "..", "shared", "lecture", "facts.md")
    if not os.path.exists(path):
        sys.exit(f"lecture_facts: {path} is missing (the lecture digest lives in ../shared)")
    rows, inside = [], False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if re.match(r"^\d+\. ", line):
                inside = line.startswith(fact + ". ")
            m = SUMMARY_ROW.match(line) if inside else None
            if m:
                rows.append((m.group(2), m.group(3), m.group(4).replace(",", "")))
    return rows


def nnc_rows(output):
    rows = []
    for line in output.splitlines():
        m = SUMMARY_ROW.match(line)
        if m:
            rows.append((m.group(2), m.group(3), m.group(4).replace(",", "")))
    return rows


def compare_summary(nnc, src, fact):
    """Failures of nnc's summary rows against the Keras rows of facts.md."""
    keras = keras_rows(src, fact)
    out, rc = run(nnc, src, "nnc summary " + KERAS_SUMMARY_FACTS[fact])
    ours = nnc_rows(out)
    failures = [] if rc == 0 else [f"nnc summary exited {rc}"]
    if len(keras) < 5:
        failures.append(f"facts.md: found only {len(keras)} summary rows for fact {fact}")
    if len(keras) != len(ours):
        failures.append(f"{len(ours)} nnc rows, {len(keras)} Keras rows")
    for i, (k, o) in enumerate(zip(keras, ours)):
        ok = o[0].startswith(k[0]) and o[1] == k[1] and o[2] == k[2]
        print(f"  row {i}: Keras {k[0]:<14} {k[1]:<20} {k[2]:>5} | nnc {o[0]:<16} {o[1]:<20} "
              f"{o[2]:>5} {'ok' if ok else 'DIFFERS'}")
        if not ok:
            failures.append(f"row {i}: Keras {k}, nnc {o}")
    return failures


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    nnc, src, fact = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), sys.argv[3]
    rows = readme_rows(src, fact)
    failures = [] if rows else [f"README.md has no row for fact {fact}"]
    for command, expected in rows:
        print(f"$ {command}")
        out, rc = run(nnc, src, command)
        if rc != 0:
            failures.append(f"'{command}' exited {rc}:\n{out}")
        for text in expected:
            found = text in out
            print(f"  {'found' if found else 'MISSING'}: {text}")
            if not found:
                failures.append(f"'{command}' does not print '{text}'")
        if not expected:
            failures.append(f"the README row of '{command}' names nothing it prints")
    if fact in KERAS_SUMMARY_FACTS:
        print(f"Keras summary of fact {fact} (facts.md) against nnc summary "
              f"{KERAS_SUMMARY_FACTS[fact]}:")
        failures += compare_summary(nnc, src, fact)
    for f in failures:
        print("FAIL:", f)
    print(f"fact {fact}: {'FAIL' if failures else 'ok'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
