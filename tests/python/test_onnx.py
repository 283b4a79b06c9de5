#!/usr/bin/env python3
"""test_onnx.py — inc_layer_export_onnx against ONNX's own tools (make check-onnx).

For each model — an Inception block, the D2L GoogLeNet (inc_googlenet_create,
with its default and with Kaiming-normal weights), a small net of the
remaining window variants (strided and padded convolution, average pooling
that counts its padding, max pooling without padding, a flatten of a feature
map into a dense layer), one with dropout layers (Identity nodes), and one
of rectangular convolutions with and without bias (Inception v3's 1x7/7x1,
strides and paddings per axis; a Conv without B) — the test binds the model
through the ctypes binding
(the inception package, python/), exports it, and then:
  - onnx.checker.check_model(full_check=True): the model is valid ONNX and
    its shapes infer strictly;
  - the graph holds the expected op types in order, input "input" and output
    "logits" with the expected (partly symbolic) shapes, and initializers
    equal to inc_layer_param: the same names in the same order, the same
    shapes, the same float32 bits;
  - ONNX Runtime (CPU) runs it on random inputs of several sizes and batch
    sizes, one export serving them all, and its logits agree with
    libinception's forward: max |ort - inc| / max |inc| <= 1e-5;
  - a second export after forwards at another size writes the same bytes.
And examples/bench_ort.py (make bench-ort) runs, tiny, its check passing
(its timing is not judged).
It prints the errors it measured.

Needs numpy, onnx and onnxruntime (mk/onnx.mk installs them from PyPI into
build/onnx-venv). Without them the test prints "skipped: ..." and passes;
any mismatch fails it (exit status 1).

Environment: INCEPTION_LIB (the library; default: the build tree's),
INCEPTION_BINDING_DIR (where the inception package is; default python/).
"""
import os
import shutil
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.environ.get("INCEPTION_BINDING_DIR") or os.path.join(ROOT, "python"))

TOL = 1e-5  # max |ort - inc| / max |inc|

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
except ImportError as e:  # the packages could not be installed (no network)
    print("skipped: ONNX export check: %s (make check-onnx installs numpy, onnx and "
          "onnxruntime from PyPI)" % e)
    sys.exit(0)

import inception as inc  # noqa: E402

TMP = tempfile.mkdtemp(prefix="inc-onnx-")
MEASURED = []  # (model, input shape, max abs error, max relative error)


def export(model, name):
    path = os.path.join(TMP, name + ".onnx")
    model.export_onnx(path)
    assert not [f for f in os.listdir(TMP) if ".tmp-" in f], "a temporary file was left"
    return path


def dims(value_info):
    """(2, 'N', None): dim_value, dim_param or None for an unnamed dimension."""
    out = []
    for d in value_info.type.tensor_type.shape.dim:
        kind = d.WhichOneof("value")
        out.append(d.dim_value if kind == "dim_value" else d.dim_param if kind else None)
    return tuple(out)


def check_structure(model, path, ops, in_dims, out_dims, scales=()):
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    assert m.ir_version == 7, m.ir_version
    assert [(o.domain, o.version) for o in m.opset_import] == [("", 13)], m.opset_import
    g = m.graph
    got = [n.op_type for n in g.node]
    assert got == ops, "op types %s, expected %s" % (got, ops)
    assert [i.name for i in g.input] == ["input"], [i.name for i in g.input]
    assert [o.name for o in g.output] == ["logits"], [o.name for o in g.output]
    assert g.node[-1].output == ["logits"]
    assert dims(g.input[0]) == in_dims, dims(g.input[0])
    assert dims(g.output[0]) == out_dims, dims(g.output[0])
    # the parameters, then the running statistics (not the counts), then the
    # residuals' scales
    params = model.params() + [(name, value, None) for name, value in model.buffers()
                                if not name.endswith("num_batches_tracked")]
    assert [t.name for t in g.initializer] == [name for name, _, _ in params] + \
        [name for name, _ in scales], \
        "initializer names differ from inc_layer_param's + inc_layer_buffer's + scales"
    for t, (name, v) in zip(g.initializer[len(params):], scales):  # residuals' scalars
        have = onnx.numpy_helper.to_array(t)
        assert have.dtype == np.float32 and have.shape == () and have == np.float32(v), \
            "%s: %s %s %s, expected the scalar %g" % (name, have.dtype, have.shape, have, v)
    for t, (name, value, _) in zip(g.initializer, params):
        want = np.asarray(value.to_host(), dtype=np.float32)
        have = onnx.numpy_helper.to_array(t)
        assert have.dtype == np.float32 and have.shape == want.shape, \
            "%s: %s %s, expected %s" % (name, have.dtype, have.shape, want.shape)
        assert have.tobytes() == want.tobytes(), "%s: data differs" % name
    # every parameter is consumed, as its node's W/B (Conv) or B/C (Gemm)
    used = {i for n in g.node for i in n.input}
    assert all(t.name in used for t in g.initializer)
    return m


def compare(model, path, label, shapes, seed=0):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    worst = 0.0
    for shape in shapes:
        x = rng.standard_normal(shape).astype(np.float32)
        want = np.asarray(model.forward(x).to_host(), dtype=np.float32)
        have = sess.run(["logits"], {"input": x})[0]
        assert have.shape == want.shape, "%s %s: ONNX Runtime gives %s, libinception %s" % (
            label, shape, have.shape, want.shape)
        err = float(np.max(np.abs(have.astype(np.float64) - want)))
        scale = float(np.max(np.abs(want)))
        rel = err / scale if scale > 0 else err
        MEASURED.append((label, shape, err, rel))
        print("    %-20s input %-14s logits %-14s max abs err %.3g, max rel err %.3g" % (
            label, "x".join(map(str, shape)), "x".join(map(str, want.shape)), err, rel))
        assert scale > 0, "%s %s: all-zero logits test nothing" % (label, shape)
        assert rel <= TOL, "%s %s: max relative error %.3g > %g" % (label, shape, rel, TOL)
        worst = max(worst, rel)
    return worst


def inception_ops():
    return ["Conv", "Relu",                                  # p1
            "Conv", "Relu", "Conv", "Relu",                  # p2
            "Conv", "Relu", "Conv", "Relu",                  # p3
            "MaxPool", "Conv", "Relu",                       # p4
            "Concat"]


# ---- the models -----------------------------------------------------------------------
def test_inception_block():
    with inc.Context("cpu", seed=3) as ctx:
        blk = inc.inception(ctx, 4, (4, 8), (2, 4), 4)
        blk.infer_shape((1, 3, 12, 12))
        path = export(blk, "inception")
        check_structure(blk, path, inception_ops(), ("N", 3, "H", "W"), ("N", 20, None, None))
        compare(blk, path, "inception", [(1, 3, 12, 12), (2, 3, 17, 9)])
        # the file does not depend on the size the model last ran at
        again = export(blk, "inception-again")
        assert open(path, "rb").read() == open(again, "rb").read(), "two exports differ"


def test_googlenet():
    with inc.Context("cpu", seed=5) as ctx:
        net = inc.googlenet(ctx, classes=10)
        net.infer_shape((1, 1, 96, 96))
        path = export(net, "googlenet")
        ops = (["Conv", "Relu", "MaxPool"] + ["Conv", "Relu", "Conv", "Relu", "MaxPool"] +
               inception_ops() * 2 + ["MaxPool"] + inception_ops() * 5 + ["MaxPool"] +
               inception_ops() * 2 + ["GlobalAveragePool", "Flatten", "Gemm"])
        m = check_structure(net, path, ops, ("N", 1, "H", "W"), ("N", 10))
        names = [n.name for n in m.graph.node]
        assert names[:3] == ["0.0", "0.1", "0.2"] and names[-1] == "5", names[:3] + names[-1:]
        assert "2.0.p2.2.weight" in m.graph.node[names.index("2.0.p2.2")].input
        compare(net, path, "googlenet", [(1, 1, 96, 96), (2, 1, 45, 67)])
        # Kaiming-normal weights keep the activations' scale through the 22
        # layers: logits of order 1 instead of 1e-2
        net.initialize("kaiming_normal", force_reinit=True)
        path = export(net, "googlenet-kaiming")
        check_structure(net, path, ops, ("N", 1, "H", "W"), ("N", 10))
        compare(net, path, "googlenet (Kaiming)", [(4, 1, 96, 96)], seed=1)


def test_window_variants():
    with inc.Context("cpu", seed=7) as ctx:
        net = inc.sequential(ctx, inc.conv2d(ctx, 6, 5, stride=2, padding=2), inc.relu(ctx),
                             inc.avg_pool2d(ctx, 3, stride=2, padding=1),
                             inc.max_pool2d(ctx, 2, stride=1),
                             inc.conv2d(ctx, 5, 3, stride=1, padding=0),
                             inc.avg_pool2d(ctx, 2),  # stride = kernel, no padding
                             inc.flatten(ctx), inc.dense(ctx, 7))
        # 17x19 -> conv 9x10 -> avg 5x5 -> max 4x4 -> conv 2x2 -> avg 1x1: 5 features
        net.infer_shape((2, 3, 17, 19))
        path = export(net, "variants")
        m = check_structure(net, path, ["Conv", "Relu", "AveragePool", "MaxPool", "Conv",
                                        "AveragePool", "Flatten", "Gemm"],
                            ("N", 3, "H", "W"), ("N", 7))
        avg = {a.name: onnx.helper.get_attribute_value(a) for a in m.graph.node[2].attribute}
        assert avg == {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1],
                       "ceil_mode": 0, "count_include_pad": 1}, avg
        assert [onnx.helper.get_attribute_value(a) for a in m.graph.node[-1].attribute] == [1]
        # any size that gives the dense layer its 5 features runs
        compare(net, path, "variants", [(2, 3, 17, 19), (1, 3, 18, 20), (3, 3, 19, 17)])


def test_dropout_is_identity():
    """Dropout exports as Identity (the model is for inference) and the
    graph still runs: in the middle, before the head and as the last node."""
    with inc.Context("cpu", seed=9) as ctx:
        net = inc.sequential(ctx, inc.conv2d(ctx, 4, 3, padding=1), inc.relu(ctx),
                             inc.dropout(ctx, 0.5), inc.global_avg_pool2d(ctx),
                             inc.flatten(ctx), inc.dropout(ctx, 0.2), inc.dense(ctx, 5),
                             inc.dropout(ctx, 0.1))
        net.infer_shape((2, 3, 9, 7))
        path = export(net, "dropout")
        check_structure(net, path, ["Conv", "Relu", "Identity", "GlobalAveragePool", "Flatten",
                                    "Identity", "Gemm", "Identity"],
                        ("N", 3, "H", "W"), ("N", 5))
        compare(net, path, "dropout", [(2, 3, 9, 7), (1, 3, 5, 6)])


def test_residual_blocks():
    """An Inception-ResNet-A-like block (x + 0.2 * conv(concat(...)), ReLU),
    a residual of one scaled branch (Mul), one of one unscaled identity
    (Identity) and one of three branches with a negative scale."""
    with inc.Context("cpu", seed=11) as ctx:
        tower = inc.sequential(ctx, inc.conv2d(ctx, 2, 1), inc.relu(ctx),
                               inc.conv2d(ctx, 2, 3, padding=1), inc.relu(ctx))
        up = inc.sequential(ctx, inc.concat(ctx, inc.sequential(ctx, inc.conv2d(ctx, 2, 1),
                                                                inc.relu(ctx)), tower),
                            inc.conv2d(ctx, 4, 1))
        net = inc.sequential(
            ctx, inc.conv2d(ctx, 4, 3, padding=1), inc.relu(ctx),
            inc.residual(ctx, inc.identity(ctx), up, scales=[1.0, 0.2]), inc.relu(ctx),
            inc.residual(ctx, inc.conv2d(ctx, 4, 3, padding=1), scales=[0.5]),
            inc.residual(ctx, inc.identity(ctx)),
            inc.residual(ctx, inc.identity(ctx), inc.max_pool2d(ctx, 3, stride=1, padding=1),
                         inc.identity(ctx), scales=[1.0, -0.5, 0.3]))
        net.infer_shape((1, 3, 9, 7))
        path = export(net, "residual")
        ops = ["Conv", "Relu",
               "Identity", "Conv", "Relu", "Conv", "Relu", "Conv", "Relu", "Concat", "Conv",
               "Mul", "Add", "Relu",
               "Conv", "Mul",
               "Identity", "Identity",
               "Identity", "MaxPool", "Identity", "Mul", "Add", "Mul", "Add"]
        scales = [("2.scale1", 0.2), ("4.scale0", 0.5), ("6.scale1", -0.5), ("6.scale2", 0.3)]
        m = check_structure(net, path, ops, ("N", 3, "H", "W"), ("N", 4, None, None), scales)
        nodes = {n.name: n for n in m.graph.node}
        assert list(nodes["2/mul1"].input) == ["2.1.1.out", "2.scale1"], nodes["2/mul1"].input
        assert list(nodes["2"].input) == ["2.0.out", "2/scaled1"], nodes["2"].input
        assert list(nodes["6"].input) == ["6/sum1", "6/scaled2"], nodes["6"].input
        compare(net, path, "residual blocks", [(1, 3, 9, 7), (2, 3, 12, 10), (3, 3, 5, 5)])


def test_rect_convs():
    with inc.Context("cpu", seed=11) as ctx:
        net = inc.sequential(ctx, inc.conv2d(ctx, 4, (1, 7), padding=(0, 3), bias=False),
                             inc.relu(ctx),
                             inc.conv2d(ctx, 5, (7, 1), padding=(3, 0)), inc.relu(ctx),
                             inc.conv2d(ctx, 6, (3, 1), stride=(2, 1), padding=(1, 0),
                                        bias=False),
                             inc.conv2d(ctx, 3, (1, 3), stride=(1, 2)),
                             inc.global_avg_pool2d(ctx), inc.flatten(ctx), inc.dense(ctx, 4))
        net.infer_shape((2, 3, 11, 9))
        path = export(net, "rect")
        m = check_structure(net, path, ["Conv", "Relu", "Conv", "Relu", "Conv", "Conv",
                                        "GlobalAveragePool", "Flatten", "Gemm"],
                            ("N", 3, "H", "W"), ("N", 4))
        convs = [n for n in m.graph.node if n.op_type == "Conv"]
        assert [len(n.input) for n in convs] == [2, 3, 2, 3], [list(n.input) for n in convs]
        want = [([1, 7], [1, 1], [0, 3, 0, 3]), ([7, 1], [1, 1], [3, 0, 3, 0]),
                ([3, 1], [2, 1], [1, 0, 1, 0]), ([1, 3], [1, 2], [0, 0, 0, 0])]
        for n, (k, st, p) in zip(convs, want):
            at = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            assert at == {"kernel_shape": k, "strides": st, "pads": p}, (n.name, at)
        compare(net, path, "rect convs", [(2, 3, 11, 9), (1, 3, 7, 16), (3, 3, 20, 5)])


def bn_ops(n=1):
    return ["Conv", "BatchNormalization", "Relu"] * n


def set_running_stats(model, seed):
    """Running statistics of a trained net, not the initial 0 and 1."""
    rng = np.random.default_rng(seed)
    for name, t in model.buffers():
        if name.endswith("running_mean"):
            t.copy_from(rng.uniform(-0.2, 0.2, t.numel).astype(np.float32))
        elif name.endswith("running_var"):
            t.copy_from(rng.uniform(0.5, 2.0, t.numel).astype(np.float32))


def test_googlenet_bn():
    """Batch norms export as BatchNormalization (scale, B, mean, var as
    initializers, epsilon); the library folds them into the convolutions at
    inference, ONNX Runtime computes them apart: the same logits."""
    with inc.Context("cpu", seed=7) as ctx:
        net = inc.googlenet(ctx, classes=10, batch_norm=True, dropout=0.4)
        net.initialize("kaiming_uniform")
        net.infer_shape((1, 1, 64, 64))
        set_running_stats(net, 3)
        path = export(net, "googlenet-bn")
        inc_bn = (bn_ops(1) + bn_ops(2) + bn_ops(2) + ["MaxPool"] + bn_ops(1) + ["Concat"])
        ops = (bn_ops() + ["MaxPool"] + bn_ops(2) + ["MaxPool"] + inc_bn * 2 + ["MaxPool"] +
               inc_bn * 5 + ["MaxPool"] + inc_bn * 2 +
               ["GlobalAveragePool", "Flatten", "Identity", "Gemm"])
        m = check_structure(net, path, ops, ("N", 1, "H", "W"), ("N", 10))
        node = next(n for n in m.graph.node if n.op_type == "BatchNormalization")
        assert list(node.input) == ["0.0.out", "0.1.weight", "0.1.bias", "0.1.running_mean",
                                    "0.1.running_var"], node.input
        eps = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}["epsilon"]
        assert abs(eps - 1e-5) < 1e-12, eps
        compare(net, path, "googlenet-bn", [(2, 1, 64, 64), (1, 1, 45, 67)])


def test_inception_v3_block():
    with inc.Context("cpu", seed=13) as ctx:
        blk = inc.inception_v3(ctx, 3, 4, 5, 2, n=7)
        blk.infer_shape((1, 6, 12, 11))
        set_running_stats(blk, 4)
        path = export(blk, "inception-v3")
        ops = (bn_ops(1) + bn_ops(3) + bn_ops(5) + ["AveragePool"] + bn_ops(1) + ["Concat"])
        m = check_structure(blk, path, ops, ("N", 6, "H", "W"), ("N", 15, None, None))
        convs = [n for n in m.graph.node if n.op_type == "Conv"]
        assert all(len(n.input) == 2 for n in convs), "a convolution with a bias"
        shapes = [{a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}["kernel_shape"]
                  for n in convs]
        assert shapes[1:4] == [[1, 1], [1, 7], [7, 1]], shapes
        compare(blk, path, "inception-v3", [(1, 6, 12, 11), (2, 6, 7, 9)])


def test_bench_ort_runs():
    """examples/bench_ort.py (make bench-ort) runs, tiny: it exports the
    D2L GoogLeNet, its own check of onnxruntime against the library passes
    and it prints its infer line. Its timing is not judged."""
    import subprocess
    argv = [sys.executable, os.path.join(ROOT, "examples", "bench_ort.py"), "--size", "28",
            "--batch", "2", "--steps", "1", "--warmup", "0"]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=120)
    lines = r.stdout.splitlines()
    assert r.returncode == 0, "bench_ort.py: exit status %d:\n%s" % (r.returncode, r.stdout)
    assert any(x.startswith("check: onnxruntime against libinception") for x in lines), r.stdout
    assert any(x.startswith("infer: ") and " img/s " in x for x in lines), r.stdout
    print("    " + next(x for x in lines if x.startswith("check: ")))


def test_errors():
    with inc.Context("cpu") as ctx:
        net = inc.sequential(ctx, inc.conv2d(ctx, 2, 3), inc.flatten(ctx), inc.dense(ctx, 3))
        path = os.path.join(TMP, "unbound.onnx")
        try:
            net.export_onnx(path)
            raise AssertionError("an unbound model must not export")
        except inc.InceptionError as e:
            assert e.status == "INC_ERR_STATE" and "not bound" in e.message, e
        assert not os.path.exists(path)
        net.infer_shape((1, 1, 5, 5))
        try:
            net.export_onnx(os.path.join(TMP, "no", "such", "dir.onnx"))
            raise AssertionError("a missing directory must fail")
        except inc.InceptionError as e:
            assert e.status == "INC_ERR_IO" and "dir.onnx" in e.message, e


def main():
    tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)]
    passed = failed = 0
    print("onnx %s, onnxruntime %s, numpy %s; library %s" % (
        onnx.__version__, ort.__version__, np.__version__, inc.LIBRARY_PATH))
    for name, fn in tests:
        try:
            fn()
            print("ok: " + name)
            passed += 1
        except Exception:  # report and continue
            print("FAIL: " + name)
            traceback.print_exc(file=sys.stdout)
            failed += 1
    shutil.rmtree(TMP, ignore_errors=True)
    if MEASURED:
        worst = max(MEASURED, key=lambda r: r[3])
        print("onnx: max relative error %.3g (%s, input %s) over %d runs; tolerance %g" % (
            worst[3], worst[0], "x".join(map(str, worst[1])), len(MEASURED), TOL))
    print("onnx: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
