#!/usr/bin/env python3
"""bench_ort.py: the onnxruntime side of examples/bench (inference only).

The same D2L GoogLeNet as examples/bench (inc_googlenet_create through the
ctypes binding, the same classes and seed 42), exported with
inc_layer_export_onnx to a temporary .onnx file and run in onnxruntime's
CPUExecutionProvider: --threads intra-op threads, one inter-op thread,
sequential execution, graph optimizations ORT_ENABLE_ALL. Same input size,
batch, warm-up passes and timed passes as examples/bench, and the same
"infer: X img/s" line, with onnxruntime's version and the peak memory
(ru_maxrss), so that one run of each program gives the ratio.

Before timing, onnxruntime's logits on the timed batch are compared with
the library's forward on the same batch (max |ort - inc| / max |inc|,
printed; above 1e-4 the program fails), so the timing is of the right model;
that run is also the untimed pass examples/bench makes before its timed
ones. The library builds, exports and runs its forward in a child process,
so this process holds only onnxruntime and ru_maxrss is onnxruntime's.
--model PATH times an existing .onnx file instead (no library model to
compare with: the check is skipped and says so).

Needs numpy and onnxruntime (`make bench-ort` installs them from PyPI into
build/onnx-venv, as `make check-onnx` does); without them it prints
"skipped: ..." and exits 0. Environment: INCEPTION_LIB (the library),
INCEPTION_BINDING_DIR (where the inception package is; default python/).
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_args import add_bench_options  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
TOL = 1e-4  # max |ort - inc| / max |inc|
SEED = 42   # examples/bench's inc_context_set_seed


def options(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_bench_options(ap, "accepted for symmetry: this program only infers")
    ap.add_argument("--model", metavar="PATH",
                    help="time this .onnx file instead of exporting the library's model")
    ap.add_argument("--reference", metavar="DIR", help=argparse.SUPPRESS)  # the child's mode
    o = ap.parse_args(argv)
    for name, lo in (("size", 16), ("batch", 1), ("steps", 1), ("threads", 0),
                     ("warmup", 0), ("classes", 1)):
        if getattr(o, name) < lo:
            ap.error("--%s needs an integer >= %d" % (name, lo))
    return o


def reference(o):
    """The child: the library's model exported to DIR/model.onnx and its
    logits on DIR/x.npy written to DIR/logits.npy."""
    import numpy as np
    sys.path.insert(0, os.environ.get("INCEPTION_BINDING_DIR") or os.path.join(ROOT, "python"))
    import inception as inc
    x = np.load(os.path.join(o.reference, "x.npy"))
    with inc.Context("cpu", seed=SEED, threads=o.threads) as ctx:
        net = inc.googlenet(ctx, classes=o.classes)
        logits = np.asarray(net.forward(x).to_host(), dtype=np.float32)
        net.export_onnx(os.path.join(o.reference, "model.onnx"))
        np.save(os.path.join(o.reference, "logits.npy"), logits)
        print("libinception %s (%s)" % (inc.version(), inc.LIBRARY_PATH))
    return 0


def export(o, tmp):
    """Runs the child on x.npy in tmp; returns (model path, logits, its line)."""
    import numpy as np
    argv = [sys.executable, os.path.abspath(__file__), "--reference", tmp,
            "--classes", str(o.classes), "--threads", str(o.threads)]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    if r.returncode != 0:
        sys.stdout.write(r.stdout)
        raise SystemExit("bench_ort: the library's export failed (exit status %d)"
                         % r.returncode)
    return (os.path.join(tmp, "model.onnx"), np.load(os.path.join(tmp, "logits.npy")),
            r.stdout.strip())


def session(ort, path, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])


def check(have, want):
    """Max relative error of have against want; exits when it is above TOL."""
    import numpy as np
    if have.shape != want.shape:
        raise SystemExit("bench_ort: onnxruntime gives logits %s, libinception %s"
                         % (have.shape, want.shape))
    scale = float(np.max(np.abs(want)))
    err = float(np.max(np.abs(have.astype(np.float64) - want)))
    rel = err / scale if scale > 0 else err
    print("check: onnxruntime against libinception's forward on the timed batch: "
          "max rel err %.3g (max abs err %.3g; tolerance %g)" % (rel, err, TOL))
    if scale == 0 or not rel <= TOL:
        raise SystemExit("bench_ort: onnxruntime's logits differ from the library's: "
                         "not the same model")


def timed(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def main(argv):
    o = options(argv)
    if o.reference:
        return reference(o)
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as e:
        print("skipped: onnxruntime benchmark: %s (make bench-ort installs numpy and "
              "onnxruntime from PyPI)" % e)
        return 0
    if o.device != "cpu":
        print("skipped: onnxruntime benchmark: --device %s (this runs the CPU provider only)"
              % o.device)
        return 0
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory(prefix="inc-bench-ort-") as tmp:
        if o.model:
            path, want, lib = o.model, None, None
        else:
            # the input examples/bench's is like: uniform [0, 1), N x 1 x size x size
            x = rng.random((o.batch, 1, o.size, o.size), dtype=np.float32)
            np.save(os.path.join(tmp, "x.npy"), x)
            path, want, lib = export(o, tmp)
        sess = session(ort, path, o.threads)
    inp, out = sess.get_inputs()[0], sess.get_outputs()[0].name
    if o.model:
        channels = inp.shape[1] if isinstance(inp.shape[1], int) else 1
        x = rng.random((o.batch, channels, o.size, o.size), dtype=np.float32)
    what = ("model %s" % o.model) if o.model else "D2L GoogLeNet"
    print("onnxruntime %s, CPUExecutionProvider (%d intra-op threads, 1 inter-op, sequential, "
          "ORT_ENABLE_ALL), %s %dx%d batch %d" % (ort.__version__, o.threads, what, o.size,
                                                    o.size, o.batch))
    if lib:
        print("exported by " + lib)

    def infer():
        return sess.run([out], {inp.name: x})[0]

    have = infer()  # the untimed pass before the warm-up ones
    if o.model:
        print("check: skipped (--model: no library model to compare with)")
    else:
        check(have, want)
    for _ in range(o.warmup):
        infer()
    ti = sorted(timed(infer) for _ in range(o.steps))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    im = statistics.median(ti)
    print("train: skipped (onnxruntime: inference only)")
    print("infer: %.1f img/s  (median pass %.3f s, best %.3f s = %.1f img/s)"
          % (o.batch / im, im, ti[0], o.batch / ti[0]))
    print("peak memory: %.1f MiB (ru_maxrss)" % rss)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
