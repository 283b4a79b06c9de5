#!/usr/bin/env python3
"""bench-ratios.py — the summary `make bench-compare` prints at its end.

    python3 scripts/bench-ratios.py build/bench-compare

Reads the outputs of examples/bench (libinception.txt), examples/bench_torch.py
(pytorch.txt) and examples/bench_ort.py (onnxruntime.txt) in that directory,
takes the throughput of their "train: X img/s" and "infer: Y img/s" lines, and
prints the ratios library/PyTorch (train, infer) and library/onnxruntime
(infer). A file, line or figure that is missing (a program skipped, or
--infer-only) gives "n/a" with the reason, never an error: the figures are
the programs' own, this only divides them. Standard library only.
"""
import os
import re
import sys

PROGRAMS = (("libinception", "libinception.txt"), ("PyTorch", "pytorch.txt"),
            ("onnxruntime", "onnxruntime.txt"))
LINE = re.compile(r"^(train|infer): ([0-9.]+) img/s\b")


def figures(path):
    """{"train": img/s, "infer": img/s} as far as the file has them; None
    when it cannot be read."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    found = {}
    for line in text.splitlines():
        m = LINE.match(line.strip())
        if m and m.group(1) not in found:
            found[m.group(1)] = float(m.group(2))
    return found


def ratio(runs, other, kind):
    lib, them = runs["libinception"], runs[other]
    for name, f in (("libinception", lib), (other, them)):
        if f is None:
            return "n/a (no output of %s)" % name
        if not f.get(kind):
            return "n/a (%s printed no %s figure)" % (name, kind)
    return "%.2fx (%.1f / %.1f img/s)" % (lib[kind] / them[kind], lib[kind], them[kind])


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: bench-ratios.py DIR\n")
        return 2
    runs = {name: figures(os.path.join(argv[1], file)) for name, file in PROGRAMS}
    print("bench-compare summary (from %s; higher is better for libinception):" % argv[1])
    print("  libinception / PyTorch      train %s" % ratio(runs, "PyTorch", "train"))
    print("  libinception / PyTorch      infer %s" % ratio(runs, "PyTorch", "infer"))
    print("  libinception / onnxruntime  infer %s" % ratio(runs, "onnxruntime", "infer"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
