#!/usr/bin/python3
"""bench_torch.py: the PyTorch side of examples/bench.

The same D2L GoogLeNet (Dive into Deep Learning, ch. 8.4), the same input
size, batch, thread count, warm-up and timed steps, and the same lines of
output ("train: X img/s", "infer: Y img/s", FLOPs, achieved GFLOP/s, the
SGEMM ceiling of torch.mm in this process, peak memory), so that one run of
both programs gives the ratio. Training step: forward, softmax
cross-entropy, backward, SGD step (lr 0.01, no momentum). Inference:
forward under torch.no_grad() in eval mode. Run it with Debian's
python3-torch: /usr/bin/python3 examples/bench_torch.py --size 96
"""
import argparse
import os
import resource
import statistics
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402
from torch_models import init_like_library  # noqa: E402
from bench_args import add_bench_options  # noqa: E402


def googlenet(classes):
    return init_like_library(torch_models.googlenet(classes))


def count_macs(net, x):
    """Multiply-adds of one forward pass, from the layer shapes (hooks)."""
    macs = [0]

    def hook(m, inp, out):
        w = m.weight
        macs[0] += out.numel() * (w.numel() // w.shape[0])

    hs = [m.register_forward_hook(hook) for m in net.modules()
          if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        net(x)
    for h in hs:
        h.remove()
    return macs[0]


def sgemm_ceiling(n):
    a, b = torch.rand(n, n), torch.rand(n, n)
    torch.mm(a, b)
    best = min(timed(lambda: torch.mm(a, b)) for _ in range(3))
    return 2.0 * n ** 3 / best * 1e-9


def timed(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_bench_options(ap, "inference passes only, for inference's peak memory")
    o = ap.parse_args()
    if o.threads > 0:
        torch.set_num_threads(o.threads)
    torch.manual_seed(42)
    dev = torch.device(o.device)
    sync = torch.cuda.synchronize if o.device == "cuda" else (lambda: None)
    net = googlenet(o.classes).to(dev)
    x = torch.rand(o.batch, 1, o.size, o.size, device=dev)
    labels = torch.randint(0, o.classes, (o.batch,), device=dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    print(f"PyTorch {torch.__version__}, {o.device} ({torch.get_num_threads()} threads, "
          f"mkldnn {torch.backends.mkldnn.is_available()}), D2L GoogLeNet {o.size}x{o.size} "
          f"batch {o.batch}")

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), labels)
        loss.backward()
        opt.step()
        sync()

    def infer():
        with torch.no_grad():
            net(x)
        sync()

    net.train()
    for _ in range(0 if o.infer_only else o.warmup):
        step()
    ts = sorted(timed(step) for _ in range(0 if o.infer_only else o.steps))
    net.eval()
    for _ in range(o.warmup):
        infer()
    ti = sorted(timed(infer) for _ in range(o.steps))
    macs = count_macs(net, x)
    train_flop, infer_flop = 6.0 * macs, 2.0 * macs
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # before the ceiling
    ceiling = sgemm_ceiling(2048 if o.device == "cpu" else 8192)
    tm, im = statistics.median(ts) if ts else 0.0, statistics.median(ti)
    if o.infer_only:
        print("train: skipped (--infer-only)")
    else:
        print(f"train: {o.batch / tm:.1f} img/s  (median step {tm:.3f} s, best {ts[0]:.3f} s = "
              f"{o.batch / ts[0]:.1f} img/s; {o.steps} steps)")
    print(f"infer: {o.batch / im:.1f} img/s  (median pass {im:.3f} s, best {ti[0]:.3f} s = "
          f"{o.batch / ti[0]:.1f} img/s)")
    print(f"flops: {train_flop * 1e-9:.1f} GFLOP per training step, "
          f"{infer_flop * 1e-9:.1f} GFLOP per inference pass")
    print(f"achieved: train {train_flop / tm * 1e-9 if tm else 0.0:.1f} GFLOP/s, infer "
          f"{infer_flop / im * 1e-9:.1f} GFLOP/s; SGEMM ceiling {ceiling:.1f} GFLOP/s")
    print(f"peak memory: {rss:.1f} MiB (ru_maxrss)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
