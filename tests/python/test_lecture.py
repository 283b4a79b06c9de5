"""test_lecture.py — the lecture example (examples/python/lecture.py) under
pytest, with the interpreter that runs the tests (so with the installed
package in `make check-python-package`): every step's assertion (--check)."""
import os
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def run_lecture(*extra):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, os.path.join(ROOT, "examples", "python", "lecture.py"),
                           "--steps", "120", "--check", *extra],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                          universal_newlines=True, timeout=600)


def test_lecture_synthetic():
    r = run_lecture("--synthetic")
    assert r.returncode == 0 and "lecture: ok" in r.stdout, r.stdout


def test_lecture_fashion_mnist_or_synthetic():
    r = run_lecture()
    assert r.returncode == 0 and "lecture: ok" in r.stdout, r.stdout
    assert "(1, 256, 28, 28)" in r.stdout
