#!/usr/bin/python3
"""test_state_dict.py — PyTorch state_dicts and libinception's files, both
ways, for the batch-norm GoogLeNet (make check-torch-interop).

  1. A torch BN-GoogLeNet (examples/torch_models.py) with random weights and
     running statistics, its state_dict saved with the safetensors package
     (num_batches_tracked a 0-d int64), loads into inception.googlenet_bn
     with Layer.load; the evaluation logits agree: max |inc - torch| /
     max |torch| <= 1e-4.
  2. The reverse: the library's model after three training steps (so the
     running statistics and counts are its own) saved with Layer.save loads
     into torch with load_state_dict(strict=True) and gives the same logits.

Needs torch (Debian's python3-torch) and the safetensors package (PyPI);
without the latter it prints "skipped: ..." and passes.
Environment: INCEPTION_LIB, INCEPTION_BINDING_DIR as tests/python/test_onnx.py.
"""
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.environ.get("INCEPTION_BINDING_DIR") or os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "examples"))

TOL = 1e-4

try:
    import numpy as np
    import torch
    from safetensors.torch import load_file, save_file
except ImportError as e:
    print("skipped: state_dict interop check: %s (make check-torch-interop installs the "
          "safetensors package from PyPI; torch is Debian's python3-torch)" % e)
    sys.exit(0)

import inception as inc  # noqa: E402
import torch_models  # noqa: E402

torch.set_num_threads(2)
TMP = tempfile.mkdtemp(prefix="inc-sd-")


def rel_err(got, ref):
    return float(np.max(np.abs(got - ref)) / max(np.max(np.abs(ref)), 1e-30))


def torch_logits(net, x):
    net.eval()
    with torch.no_grad():
        return net(torch.from_numpy(x)).numpy()


def inc_logits(model, x):
    return np.asarray(model.forward(x, training=False).to_host(), dtype=np.float32)


def torch_to_library(ctx, x):
    torch.manual_seed(7)
    net = torch_models.googlenet(10, bn=True)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(7)
    path = os.path.join(TMP, "torch.safetensors")
    save_file(net.state_dict(), path)
    ref = torch_logits(net, x)
    model = inc.googlenet_bn(ctx, 10)
    model.load(path)  # binds the unbound model from the file's shapes
    bufs = model.named_buffers()
    assert float(bufs["0.1.num_batches_tracked"].to_host()[0]) == 7.0
    assert len(bufs) == len([k for k in net.state_dict() if "running" in k or "num_batches" in k])
    err = rel_err(inc_logits(model, x), ref)
    print("torch -> libinception: %d tensors, eval logits max relative error %.2e"
          % (len(net.state_dict()), err))
    assert err <= TOL, err


def library_to_torch(ctx, x):
    model = inc.googlenet_bn(ctx, 10)
    model.initialize("kaiming_uniform")
    rng = np.random.default_rng(3)
    opt = inc.SGD(ctx, lr=0.05, momentum=0.9)
    for _ in range(3):
        xb = rng.standard_normal((4, 1, 32, 32)).astype(np.float32)
        labels = rng.integers(0, 10, 4).astype(np.int32)
        logits = model.forward(xb, training=True)
        dlogits = ctx.zeros(logits.shape)
        inc.softmax_cross_entropy(logits, labels, dlogits)
        model.backward(dlogits)
        opt.step(model)
    path = os.path.join(TMP, "inc.safetensors")
    model.save(path)
    sd = load_file(path)
    assert sd["0.1.num_batches_tracked"].dtype == torch.int64
    assert sd["0.1.num_batches_tracked"].shape == torch.Size([])
    assert int(sd["0.1.num_batches_tracked"]) == 3
    net = torch_models.googlenet(10, bn=True)
    net.load_state_dict(sd, strict=True)
    err = rel_err(inc_logits(model, x), torch_logits(net, x))
    print("libinception -> torch: %d tensors, eval logits max relative error %.2e" % (len(sd), err))
    assert err <= TOL, err


def main():
    x = np.random.default_rng(1).standard_normal((3, 1, 40, 40)).astype(np.float32)
    with inc.Context("cpu", seed=5) as ctx:
        ctx.num_threads = 2
        torch_to_library(ctx, x)
        library_to_torch(ctx, x)
    shutil.rmtree(TMP, ignore_errors=True)
    print("state_dict interop: passed")


if __name__ == "__main__":
    main()
