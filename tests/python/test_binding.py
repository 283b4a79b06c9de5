#!/usr/bin/env python3
"""test_binding.py — tests of the ctypes binding, the inception package (python/).

Plain asserts, no pytest: every test_* function runs, one line each, then
"python: N passed, N failed" (exit status 1 on any failure). Runs with or
without numpy (INCEPTION_NO_NUMPY=1 forces the list path); every reference
is computed in plain Python so both paths check the same numbers.

Environment: INCEPTION_LIB (the library; default: the build tree's),
INCEPTION_BINDING_DIR (the directory holding the inception package; default:
an installed package, else python/ of the source tree),
INCEPTION_HEADER (the header the binding is checked against; default the
source tree's, else PREFIX/include next to INCEPTION_LIB).
"""
import math
import os
import re
import shutil
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
# The binding: $INCEPTION_BINDING_DIR, else an installed package (pip install
# ./python), else the source tree's python/.
if os.environ.get("INCEPTION_BINDING_DIR"):
    sys.path.insert(0, os.environ["INCEPTION_BINDING_DIR"])
else:
    try:
        import inception  # noqa: F401
    except ImportError:
        sys.path.insert(0, os.path.join(ROOT, "python"))
os.environ.setdefault("OMP_NUM_THREADS", "1")  # tiny nets: threads only add spinning
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import inception as inc  # noqa: E402

TMP = tempfile.mkdtemp(prefix="inc-python-")


def header_path():
    if os.environ.get("INCEPTION_HEADER"):
        return os.environ["INCEPTION_HEADER"]
    lib = os.environ.get("INCEPTION_LIB")
    if lib:
        staged = os.path.join(os.path.dirname(os.path.abspath(lib)), "..", "include", "inception.h")
        if os.path.exists(staged):
            return os.path.normpath(staged)
    return os.path.join(ROOT, "include", "inception.h")


def flat(x):
    """Nested lists or a numpy array -> flat list of floats."""
    if hasattr(x, "tolist"):
        x = x.tolist()
    if isinstance(x, (int, float)):
        return [float(x)]
    out = []
    for v in x:
        out.extend(flat(v))
    return out


def close(a, b, tol=1e-5):
    a, b = flat(a), flat(b)
    return len(a) == len(b) and all(abs(x - y) <= tol + tol * abs(y) for x, y in zip(a, b))


def expect_error(fn, status, fragment=""):
    try:
        fn()
    except inc.InceptionError as e:
        assert e.status == status, "status %s, expected %s (%s)" % (e.status, status, e)
        assert fragment in e.message, "message %r lacks %r" % (e.message, fragment)
        return e
    raise AssertionError("no InceptionError(%s)" % status)


def small_net(ctx, classes=5):
    return inc.sequential(ctx, inc.inception(ctx, 4, (4, 8), (2, 4), 4),
                          inc.global_avg_pool2d(ctx), inc.flatten(ctx), inc.dense(ctx, classes))


# ---- the binding against the header ----------------------------------------------
def c_types():
    """The ctypes type each C type of the header must be declared with."""
    from ctypes import (POINTER, c_char_p, c_float, c_int, c_int32, c_int64, c_size_t, c_uint,
                        c_uint64)
    return {
        "void": None, "int": c_int, "unsigned": c_uint, "float": c_float, "size_t": c_size_t,
        "int64_t": c_int64, "uint64_t": c_uint64,
        "inc_status": c_int, "inc_backend": c_int, "inc_init": c_int, "inc_precision": c_int,
        "char *": c_char_p, "char **": POINTER(c_char_p), "char *const *": POINTER(c_char_p),
        "int *": POINTER(c_int), "float *": POINTER(c_float), "int64_t *": POINTER(c_int64),
        "int32_t *": POINTER(c_int32), "size_t *": POINTER(c_size_t),
        "inc_context *": inc.ContextP, "inc_tensor *": inc.TensorP, "inc_layer *": inc.LayerP,
        "inc_optimizer *": inc.OptimizerP, "inc_context **": POINTER(inc.ContextP),
        "inc_tensor **": POINTER(inc.TensorP), "inc_layer **": POINTER(inc.LayerP),
        "inc_optimizer **": POINTER(inc.OptimizerP),
        "inc_conv2d_desc *": POINTER(inc.Conv2dDesc),
        "inc_googlenet_desc *": POINTER(inc.GoogLeNetDesc),
        "inc_grad_hook *": POINTER(inc.GradHook),
    }


def c_type(decl):
    """"const int64_t *in_dims" -> "int64_t *"; "const char *const *keys" -> "char *const *"."""
    tokens = re.findall(r"[A-Za-z_][A-Za-z0-9_]*|\*", decl)
    if len(tokens) > 1 and tokens[-1] != "*":
        tokens = tokens[:-1]  # the parameter's name
    while tokens and tokens[0] == "const":
        tokens = tokens[1:]
    base = []
    while tokens and tokens[0] not in ("*", "const"):
        base.append(tokens.pop(0))
    ptr = "".join("*" if t == "*" else "const " for t in tokens if t in ("*", "const"))
    return " ".join(base) + (" " + ptr if ptr else "")


def header_functions():
    text = open(header_path()).read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    funcs = {}
    for m in re.finditer(r"INC_API\s+([^;(]*?)\b(inc_[a-z0-9_]+)\s*\(([^)]*)\)\s*;", text):
        params = [p.strip() for p in m.group(3).split(",")]
        funcs[m.group(2)] = (c_type(m.group(1)), [] if params == ["void"] else
                             [c_type(p) for p in params])
    return funcs


def test_signatures_match_the_header():
    funcs, types = header_functions(), c_types()
    assert len(funcs) >= 60, "only %d functions parsed from %s" % (len(funcs), header_path())
    declared = inc._SIGNATURES
    missing = sorted(set(funcs) - set(declared))
    extra = sorted(set(declared) - set(funcs))
    assert not missing and not extra, "binding lacks %s, has extra %s" % (missing, extra)
    wrong = []
    for name, (ret, params) in sorted(funcs.items()):
        unknown = [t for t in [ret] + params if t not in types]
        assert not unknown, "%s: C types %s have no ctypes mapping in this test" % (name, unknown)
        fn = getattr(inc._lib, name)
        if fn.restype is not types[ret] or list(fn.argtypes) != [types[p] for p in params]:
            wrong.append("%s: header %s(%s), binding %s%s" % (name, ret, ", ".join(params),
                                                             fn.restype, fn.argtypes))
    assert not wrong, "; ".join(wrong)


def test_version():
    text = open(header_path()).read()
    parts = [re.search(r"#define INC_VERSION_%s (\d+)" % k, text).group(1)
             for k in ("MAJOR", "MINOR", "PATCH")]
    assert inc.version() == ".".join(parts), inc.version()
    assert inc.version_number() == int(parts[0]) * 10000 + int(parts[1]) * 100 + int(parts[2])
    assert inc.__version__ == inc.version()


# ---- errors ------------------------------------------------------------------------
def test_status_names():
    names = ["INC_OK", "INC_ERR_INVALID_ARGUMENT", "INC_ERR_SHAPE", "INC_ERR_OUT_OF_MEMORY",
             "INC_ERR_DEVICE", "INC_ERR_UNAVAILABLE", "INC_ERR_STATE", "INC_ERR_IO",
             "INC_ERR_FORMAT", "INC_ERR_DEVICE_LOST"]
    assert [inc.status_string(i) for i in range(10)] == names
    assert inc.status_string(1234) == "INC_ERR_UNKNOWN"
    assert inc.ERR_SHAPE == 2 and inc.ERR_DEVICE_LOST == 9


def test_errors_carry_status_and_message():
    ctx = inc.Context("cpu")
    e = expect_error(lambda: inc.dense(ctx, 0), "INC_ERR_INVALID_ARGUMENT", "out_features")
    assert e.code == inc.ERR_INVALID_ARGUMENT and e.call == "inc_dense_create"
    assert "inc_dense_create" in str(e) and e.message in str(e)
    conv = inc.conv2d(ctx, 2, 3, padding=1)
    conv.infer_shape((1, 3, 5, 5))
    e = expect_error(lambda: conv(ctx.zeros((1, 4, 5, 5))), "INC_ERR_SHAPE",
                     "bound to 3 input channels, got 4")
    assert e.code == inc.ERR_SHAPE and ctx.last_error == e.message
    expect_error(lambda: conv.backward(ctx.zeros((1, 2, 5, 5))), "INC_ERR_STATE", "backward")
    expect_error(lambda: conv.load(os.path.join(TMP, "missing.safetensors")), "INC_ERR_IO", "")
    bad = os.path.join(TMP, "bad.safetensors")
    with open(bad, "wb") as f:
        f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    expect_error(lambda: conv.load(bad), "INC_ERR_FORMAT", "")
    expect_error(lambda: inc.checkpoint_metadata(bad, "k"), "INC_ERR_FORMAT", "")
    expect_error(lambda: ctx.tensor([1.0, 2.0]).reshape((3,)), "INC_ERR_SHAPE", "3 elements")
    usable, why = inc.backend_probe("cuda")
    assert usable == inc.backend_available("cuda")
    assert inc.backend_probe("cpu") == (True, "")
    if not usable:
        assert why.startswith("CUDA backend: "), why
        expect_error(lambda: inc.Context("cuda"), "INC_ERR_UNAVAILABLE", "CUDA backend: ")
    try:
        inc.Context("tpu")
        raise AssertionError("an unknown backend name must fail")
    except ValueError:
        pass
    ctx.close()


def test_precision():
    with inc.Context("cpu") as ctx:
        assert ctx.precision == "fp32"
        try:
            ctx.precision = "bf16"
            assert ctx.precision == "bf16"
        except inc.InceptionError as e:  # an OpenBLAS build, a CPU without AVX512-BF16
            assert e.status == "INC_ERR_UNAVAILABLE" and ctx.precision == "fp32", e
        ctx.precision = "fp32"
        assert ctx.precision == "fp32"
        try:
            ctx.precision = "fp16"
            raise AssertionError("an unknown precision must fail")
        except ValueError:
            pass


# ---- tensors and shapes ----------------------------------------------------------------
def test_tensor_round_trip():
    with inc.Context("cpu") as ctx:
        data = [[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]]
        t = ctx.tensor(data)
        assert t.shape == (1, 2, 3) and t.ndim == 3 and t.numel == 6 and len(t) == 1
        back = t.to_host()
        if inc.HAVE_NUMPY:
            assert type(back).__name__ == "ndarray" and str(back.dtype) == "float32"
            assert back.shape == (1, 2, 3)
        else:
            assert isinstance(back, list) and len(back[0][1]) == 3
        assert t.tolist() == data
        t.reshape((3, 2))
        assert t.shape == (3, 2) and t.tolist() == [[1, 2], [3, 4], [5, 6]]
        t.copy_from([0.5] * 6)
        assert flat(t.to_host()) == [0.5] * 6
        z = ctx.zeros((2, 2))
        assert flat(z.to_host()) == [0.0] * 4
        if inc.HAVE_NUMPY:
            import numpy as np
            a = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
            assert ctx.tensor(a).shape == (2, 3, 4)
            assert (ctx.tensor(a).to_host() == a.astype(np.float32)).all()
            assert ctx.tensor(a.T).tolist() == a.T.tolist()  # non-contiguous input


def test_shapes_and_parameters():
    with inc.Context("cpu") as ctx:
        net = small_net(ctx)
        assert not net.is_bound and net.param_count == 0 and len(net) == 4
        assert [c.kind for c in net] == ["concat", "global_avg_pool2d", "flatten", "dense"]
        assert [b.name for b in net[0]] == ["p1", "p2", "p3", "p4"]
        assert net.infer_shape((2, 3, 8, 8)) == (2, 5) and net.is_bound
        assert net.param_count == 14 and net.param_numel == 661
        assert net.buffer_count == 0 and net.buffers() == [] and net.named_buffers() == {}
        expect_error(lambda: net.buffer(0), "INC_ERR_INVALID_ARGUMENT", "buffer index 0")
        names = [p[0] for p in net.params()]
        assert names[4] == "0.p2.2.weight" and names[-1] == "3.bias", names
        name, value, grad = net.param(4)
        assert value.shape == (8, 4, 3, 3) and grad.shape == (8, 4, 3, 3)
        assert net[0][1].parent is not None and net.parent is None
        net[3].name = "head"
        assert net.params()[-1][0] == "head.bias"
        assert net.infer_shape((1, 3, 16, 12)) == (1, 5)  # spatial size is free
        table = net.summary((2, 3, 8, 8))
        assert "total parameters: 661" in table and "0.p3.2" in table
        net.unbind()
        assert not net.is_bound and net.param_count == 0
        g = inc.googlenet(ctx, 10)
        assert g.infer_shape((1, 1, 96, 96)) == (1, 10)
        assert g.param_numel == 5977530, g.param_numel


def test_conv2d_per_axis_and_without_bias():
    with inc.Context("cpu") as ctx:
        conv = inc.conv2d(ctx, 4, (1, 7), padding=(0, 3), bias=False)
        assert conv.kind == "conv2d"
        assert conv.infer_shape((2, 3, 5, 9)) == (2, 4, 5, 9)
        assert [p[0] for p in conv.params()] == ["weight"]
        assert conv.param(0)[1].shape == (4, 3, 1, 7)
        assert "4 filters 1x7 s1 p0x3 no bias" in conv.summary((2, 3, 5, 9))
        tall = inc.conv2d(ctx, 2, (7, 1), stride=(2, 1), padding=(3, 0))
        assert tall.infer_shape((1, 3, 9, 5)) == (1, 2, 5, 5)
        assert [p[0] for p in tall.params()] == ["weight", "bias"]
        square = inc.conv2d(ctx, 2, 3, padding=1, bias=False)
        assert square.infer_shape((1, 3, 4, 4)) == (1, 2, 4, 4) and square.param_count == 1
        expect_error(lambda: inc.conv2d(ctx, 2, (1, 0)), "INC_ERR_INVALID_ARGUMENT",
                     "inc_conv2d_create_desc")
        expect_error(lambda: inc.conv2d(ctx, 2, 3, padding=(0, -1)),
                     "INC_ERR_INVALID_ARGUMENT", "padding 0x-1")


# ---- numbers --------------------------------------------------------------------------
def ref_dense(x, w, b):
    return [[b[o] + sum(w[o][i] * row[i] for i in range(len(row))) for o in range(len(w))]
            for row in x]


def test_batch_norm_builders():
    with inc.Context("cpu") as ctx:
        g = inc.googlenet(ctx, 10, batch_norm=True, dropout=0.4)
        assert g.infer_shape((1, 1, 28, 28)) == (1, 10)
        assert len(g.buffers()) == 3 * 57 and g.child(4).child(4).kind == "dropout"
        assert g.child(0).child(1).kind == "batch_norm2d"
        assert inc.googlenet(ctx, 10).param_count == 0  # unbound
        blk = inc.inception_v3(ctx, 4, 3, 5, 2, n=7)
        assert blk.infer_shape((2, 6, 9, 9)) == (2, 4 + 2 * 5 + 2, 9, 9)
        bn = inc.batch_norm2d(ctx, eps=1e-3, momentum=0.5)
        y = bn.forward([[[[1.0, 3.0]]], [[[5.0, 7.0]]]], training=True).tolist()
        assert abs(y[0][0][0][0] + 1.3416) < 1e-3, y  # (1 - 4) / sqrt(5 + 1e-3)
        expect_error(lambda: inc.googlenet(ctx, 10, dropout=1.0), "INC_ERR_INVALID_ARGUMENT",
                     "dropout")
        expect_error(lambda: inc.inception_v3(ctx, 1, 1, 1, 1, n=4), "INC_ERR_INVALID_ARGUMENT",
                     "odd")


def test_dense_forward_backward_against_reference():
    with inc.Context("cpu") as ctx:
        layer = inc.dense(ctx, 3)
        x = [[0.5, -1.0, 2.0, 0.25], [1.5, 0.0, -0.5, 1.0]]
        assert layer.infer_shape((2, 4)) == (2, 3)
        w = [[0.1, 0.2, -0.3, 0.4], [-0.5, 0.6, 0.7, -0.8], [0.9, -1.0, 0.05, 0.15]]
        b = [0.01, -0.02, 0.03]
        layer.param(0)[1].copy_from(w)
        layer.param(1)[1].copy_from(b)
        y = layer(x, training=True)
        assert y.shape == (2, 3)
        assert close(y.to_host(), ref_dense(x, w, b)), (y.tolist(), ref_dense(x, w, b))
        dy = [[1.0, -2.0, 0.5], [0.25, 1.0, -1.0]]
        dx = layer.backward(dy)
        ref_dx = [[sum(dy[n][o] * w[o][i] for o in range(3)) for i in range(4)] for n in range(2)]
        ref_dw = [[sum(dy[n][o] * x[n][i] for n in range(2)) for i in range(4)] for o in range(3)]
        ref_db = [sum(dy[n][o] for n in range(2)) for o in range(3)]
        assert close(dx.to_host(), ref_dx)
        assert close(layer.param(0)[2].to_host(), ref_dw)
        assert close(layer.param(1)[2].to_host(), ref_db)
        # one SGD step (no momentum): p -= lr * grad
        opt = inc.SGD(ctx, lr=0.5)
        opt.step(layer)
        new_w = [[w[o][i] - 0.5 * ref_dw[o][i] for i in range(4)] for o in range(3)]
        assert close(layer.param(0)[1].to_host(), new_w)
        assert abs(opt.lr - 0.5) < 1e-7
        opt.lr = 0.25
        assert abs(opt.lr - 0.25) < 1e-7
        expect_error(lambda: setattr(opt, "lr", -1.0), "INC_ERR_INVALID_ARGUMENT", "")


def test_residual_against_reference():
    """y = 1 * x + 0.25 * dense(x) - 0.5 * x; dx = dy * (0.5 + 0.25 * w)."""
    with inc.Context("cpu") as ctx:
        fc = inc.dense(ctx, 2)
        res = inc.residual(ctx, inc.identity(ctx), fc, inc.identity(ctx),
                           scales=[1.0, 0.25, -0.5])
        assert res.kind == "residual" and [c.kind for c in res] == ["identity", "dense",
                                                                   "identity"]
        assert res.infer_shape((2, 2)) == (2, 2)
        w, b = [[0.5, -1.0], [2.0, 0.25]], [0.1, -0.2]
        fc.param(0)[1].copy_from(w)
        fc.param(1)[1].copy_from(b)
        x = [[1.0, -2.0], [0.5, 3.0]]
        fx = ref_dense(x, w, b)
        want = [[0.5 * x[n][i] + 0.25 * fx[n][i] for i in range(2)] for n in range(2)]
        assert close(res(x, training=True).to_host(), want)
        dy = [[1.0, -1.0], [0.5, 2.0]]
        want_dx = [[0.5 * dy[n][i] + 0.25 * sum(dy[n][o] * w[o][i] for o in range(2))
                    for i in range(2)] for n in range(2)]
        assert close(res.backward(dy).to_host(), want_dx)
        assert "scales 1, 0.25, -0.5" in res.summary((2, 2))
        bad = inc.identity(ctx)
        expect_error(lambda: res.add_residual_branch(bad, float("nan")),
                     "INC_ERR_INVALID_ARGUMENT", "not finite")
        assert bad.parent is None and len(res) == 3
        try:
            inc.residual(ctx, inc.identity(ctx), scales=[1.0, 2.0])
            raise AssertionError("two scales for one branch must be refused")
        except ValueError:
            pass


def test_softmax_cross_entropy_against_reference():
    with inc.Context("cpu") as ctx:
        logits = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0], [2.0, 2.0, 2.0], [5.0, 0.0, 0.0]]
        labels = [1, 2, 0, 1]
        t = ctx.tensor(logits)
        d = ctx.zeros((4, 3))
        loss, correct = inc.softmax_cross_entropy(t, labels, d)
        ref_loss, ref_d, ref_correct = 0.0, [], 0
        for row, k in zip(logits, labels):
            m = max(row)
            e = [math.exp(v - m) for v in row]
            s = sum(e)
            ref_loss -= math.log(e[k] / s)
            ref_d.append([(e[j] / s - (1.0 if j == k else 0.0)) / len(logits) for j in range(3)])
            ref_correct += 1 if row.index(max(row)) == k else 0
        assert abs(loss - ref_loss / len(logits)) < 1e-5, (loss, ref_loss / 4)
        assert close(d.to_host(), ref_d)
        assert correct == ref_correct == 3, correct
        loss2, _ = inc.softmax_cross_entropy(t, labels)  # no gradient wanted
        assert abs(loss2 - loss) < 1e-7
        expect_error(lambda: inc.softmax_cross_entropy(t, [0, 1, 2, 3]), "INC_ERR_INVALID_ARGUMENT",
                     "")


def test_label_smoothing_and_dropout():
    with inc.Context("cpu", seed=4) as ctx:
        logits = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]
        labels, eps = [1, 2], 0.25
        t, d = ctx.tensor(logits), ctx.zeros((2, 3))
        loss, _ = inc.softmax_cross_entropy(t, labels, d, smoothing=eps)
        ref_loss, ref_d = 0.0, []
        for row, k in zip(logits, labels):
            m = max(row)
            s = sum(math.exp(v - m) for v in row)
            logp = [v - m - math.log(s) for v in row]
            q = [(1 - eps) * (j == k) + eps / 3 for j in range(3)]
            ref_loss -= sum(qj * lj for qj, lj in zip(q, logp)) / 2
            ref_d.append([(math.exp(logp[j]) - q[j]) / 2 for j in range(3)])
        assert abs(loss - ref_loss) < 1e-5, (loss, ref_loss)
        assert close(d.to_host(), ref_d)
        expect_error(lambda: inc.softmax_cross_entropy(t, labels, smoothing=1.5),
                     "INC_ERR_INVALID_ARGUMENT", "smoothing")
        drop = inc.dropout(ctx, 0.5)
        assert drop.kind == "dropout"
        x = [[1.0, -2.0, 3.0, 4.0]] * 8
        y = drop.forward(ctx.tensor(x), training=True).to_host()
        vals = [v for r in y for v in r]
        assert all(v == 0.0 or v == 2.0 * x[0][i % 4] for i, v in enumerate(vals)), vals
        assert 0 < vals.count(0.0) < len(vals), vals
        assert close(drop.forward(ctx.tensor(x)).to_host(), x)  # inference: the identity
        expect_error(lambda: inc.dropout(ctx, 1.0), "INC_ERR_INVALID_ARGUMENT", "p")


def synthetic(n, c=3, hw=8, classes=5):
    """Images whose per-channel brightness encodes the class."""
    xs, ys = [], []
    for i in range(n):
        k = i % classes
        xs.append([[[((k + ch) % classes) * 0.5 + 0.05 * math.sin(i + ch + r * hw + col)
                     for col in range(hw)] for r in range(hw)] for ch in range(c)])
        ys.append(k)
    return xs, ys


def test_training_reduces_the_loss():
    with inc.Context("cpu", seed=3) as ctx:
        net = small_net(ctx)
        xs, ys = synthetic(10)
        x = ctx.tensor(xs)
        opt = inc.SGD(ctx, lr=0.1, momentum=0.9)
        losses = []
        for _ in range(25):
            logits = net(x, training=True)
            d = ctx.zeros(logits.shape)
            loss, correct = inc.softmax_cross_entropy(logits, ys, d)
            net.backward(d)
            opt.step(net)
            losses.append(loss)
        assert losses[-1] < 0.5 * losses[0], losses


def test_determinism_and_initialize():
    outs = []
    for _ in range(2):
        with inc.Context("cpu", seed=42) as ctx:
            net = small_net(ctx)
            xs, _ = synthetic(2)
            outs.append(flat(net(ctx.tensor(xs)).to_host()))
            assert ctx.seed == 42
            before = flat(net.param(0)[1].to_host())
            net.initialize("kaiming_normal", force_reinit=False)  # bound: kept
            assert flat(net.param(0)[1].to_host()) == before
            net.initialize("kaiming_normal", force_reinit=True)
            assert flat(net.param(0)[1].to_host()) != before
    assert outs[0] == outs[1]


# ---- persistence --------------------------------------------------------------------
def test_save_load_round_trip():
    with inc.Context("cpu", seed=5) as ctx:
        net = small_net(ctx)
        xs, _ = synthetic(3)
        x = ctx.tensor(xs)
        y1 = flat(net(x).to_host())
        path = os.path.join(TMP, "model.safetensors")
        inc.save(net, path)
        other = small_net(ctx)
        assert not other.is_bound
        inc.load(other, path)  # binds from the file
        assert other.is_bound and other.param_numel == 661
        assert flat(other(x).to_host()) == y1
        wrong = inc.sequential(ctx, inc.dense(ctx, 7))
        expect_error(lambda: wrong.load(path), "INC_ERR_SHAPE", "")


def test_checkpoint_metadata():
    with inc.Context("cpu", seed=6) as ctx:
        net = small_net(ctx)
        xs, ys = synthetic(5)
        x = ctx.tensor(xs)
        opt = inc.SGD(ctx, lr=0.05, momentum=0.9)
        logits = net(x, training=True)
        d = ctx.zeros(logits.shape)
        inc.softmax_cross_entropy(logits, ys, d)
        net.backward(d)
        opt.step(net)
        path = os.path.join(TMP, "ckpt.safetensors")
        meta = {"epoch": 3, "note": "h\u00e9llo, \"quoted\"", "empty": ""}
        inc.checkpoint_save(net, path, optimizer=opt, metadata=meta)
        assert inc.checkpoint_metadata(path, "epoch") == "3"
        assert inc.checkpoint_metadata(path, "note") == meta["note"]
        assert inc.checkpoint_metadata(path, "empty") == ""
        assert inc.checkpoint_metadata(path, "absent") is None
        assert inc.checkpoint_metadata(path, "absent", "dflt") == "dflt"
        net2, opt2 = small_net(ctx), inc.SGD(ctx, lr=1.0, momentum=0.9)
        inc.checkpoint_load(net2, path, optimizer=opt2)
        assert abs(opt2.lr - 0.05) < 1e-7, opt2.lr
        assert flat(net2(x).to_host()) == flat(net(x).to_host())
        expect_error(lambda: inc.checkpoint_save(net, path, metadata={"inc.reserved": "x"}),
                     "INC_ERR_INVALID_ARGUMENT", "")


# ---- lifetimes ------------------------------------------------------------------------
def test_lifetimes():
    ctx = inc.Context("cpu")
    net = small_net(ctx)
    y = net(ctx.zeros((1, 3, 8, 8)))
    child = net[0][2]
    ctx.close()
    for fn in (lambda: y.shape, lambda: child.kind, lambda: net.param_count, lambda: ctx.seed):
        try:
            fn()
            raise AssertionError("a closed object must raise")
        except ValueError:
            pass
    ctx.close()  # twice is fine
    seq, ctx2 = None, inc.Context("cpu")
    seq = inc.sequential(ctx2)
    r = inc.relu(ctx2)
    seq.append(r)
    try:
        inc.sequential(ctx2, r)
        raise AssertionError("a layer cannot be appended twice")
    except ValueError:
        pass
    del seq  # the container (and r inside it) stays alive through r's wrapper
    assert r.kind == "relu" and r.parent is not None


def main():
    tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)]
    passed = failed = 0
    print("binding %s (%s, %s)" % (inc.LIBRARY_PATH, "numpy" if inc.HAVE_NUMPY else "lists",
                                   sys.version.split()[0]))
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
    print("python: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
