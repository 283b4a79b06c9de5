#!/usr/bin/env python3
"""lecture.py — the "Multi-Branch Networks" lecture of Dive into Deep Learning,
step by step, with the inception package.

    python3 examples/python/lecture.py                # after pip install ./python
    python3 examples/python/lecture.py --steps 300 --check

1. An Inception block: four paths (1x1; 1x1 -> 3x3; 1x1 -> 5x5; 3x3 max pool
   -> 1x1), concatenated on channels. Only the channel counts of the paths
   are given: the input channels are bound at the first call (lazy shapes).
2. Its shape table for a 1 x 192 x 28 x 28 input, as the lecture prints it:
   64 + 128 + 32 + 32 = 256 output channels.
3. A small net around the block, trained a few hundred SGD steps on
   Fashion-MNIST (Debian's dataset-fashion-mnist) or, without it, on
   synthetic images: the loss falls.
4. Reinitialization (initialize(..., force_reinit=True)) draws new weights
   but keeps every bound shape.
5. unbind() forgets the bound shapes, so the same block takes an input with
   another channel count; a bound block refuses it with INC_ERR_SHAPE.
With --check, each step asserts what it shows (used by the test suite).
"""
import argparse
import gzip
import os
import struct
import sys

try:  # installed (pip install ./python), else the package of the source tree
    import inception as inc
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "python"))
    import inception as inc  # noqa: E402

FMNIST_DIR = "/usr/share/datasets/fashion-mnist"


def load_fmnist(limit, size):
    """(images (N, 1, size, size) as nested lists in [0, 1], labels), or None."""
    try:
        with gzip.open(os.path.join(FMNIST_DIR, "train-images-idx3-ubyte.gz")) as f:
            _, n, h, w = struct.unpack(">IIII", f.read(16))
            n = min(n, limit)
            raw = f.read(n * h * w)
        with gzip.open(os.path.join(FMNIST_DIR, "train-labels-idx1-ubyte.gz")) as f:
            f.read(8)
            labels = list(f.read(n))
    except OSError:
        return None
    # nearest-neighbour down to size x size: enough for a lecture demo
    images = [[[[raw[i * h * w + (r * h // size) * w + c * w // size] / 255.0
                 for c in range(size)] for r in range(size)]] for i in range(n)]
    return images, labels


def synthetic(limit, size, classes):
    """Images whose class is a bright square's position: learnable in a few steps."""
    images, labels = [], []
    for i in range(limit):
        k = (i * 7) % classes
        r0, c0 = (k * 3) % (size - 3), (k * 5) % (size - 3)
        images.append([[[1.0 if r0 <= r < r0 + 3 and c0 <= c < c0 + 3 else 0.0
                         for c in range(size)] for r in range(size)]])
        labels.append(k)
    return images, labels


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=300, help="SGD steps (default 300)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--synthetic", action="store_true", help="synthetic images, no data set")
    ap.add_argument("--check", action="store_true", help="assert what each step shows")
    args = ap.parse_args()

    with inc.Context("cpu", seed=0) as ctx:
        # 1-2. the block and the lecture's shape table
        block = inc.inception(ctx, 64, (96, 128), (16, 32), 32)
        print("1. Inception(64, (96, 128), (16, 32), 32): bound?", block.is_bound)
        table = block.summary((1, 192, 28, 28))
        print("2. shape table for (1, 192, 28, 28):\n" + table)
        if args.check:
            assert block.is_bound and "(1, 256, 28, 28)" in table, table

        # 3. train a small net around a block
        size, classes = 16, 10
        data = None if args.synthetic else load_fmnist(args.batch * 8, size)
        source = "Fashion-MNIST" if data else "synthetic images"
        images, labels = data or synthetic(args.batch * 8, size, classes)
        net = inc.sequential(ctx, inc.conv2d(ctx, 16, 3, 1, 1), inc.relu(ctx),
                             inc.inception(ctx, 8, (8, 16), (4, 8), 8),
                             inc.global_avg_pool2d(ctx), inc.flatten(ctx),
                             inc.dense(ctx, classes))
        net.initialize("kaiming_uniform")
        opt = inc.SGD(ctx, lr=0.05, momentum=0.9)
        dlogits = ctx.zeros((args.batch, classes))
        first = last = None
        for step in range(args.steps):
            lo = (step * args.batch) % (len(images) - args.batch + 1)
            x = ctx.tensor(images[lo:lo + args.batch])
            logits = net(x, training=True)
            loss, _ = inc.softmax_cross_entropy(logits, labels[lo:lo + args.batch], dlogits)
            net.backward(dlogits)
            opt.step(net)
            first = loss if first is None else first
            last = loss
        print("3. %d SGD steps on %s: loss %.4f -> %.4f" % (args.steps, source, first, last))
        if args.check:
            assert last < first, (first, last)

        # 4. reinitialization keeps the bound shapes
        shapes = [p[1].shape for p in net.params()]
        before = net.params()[0][1].tolist()
        net.initialize("xavier_uniform", force_reinit=True)
        after = net.params()[0][1].tolist()
        same = [p[1].shape for p in net.params()] == shapes
        print("4. reinitialized: new weights %s, shapes kept %s" % (before != after, same))
        if args.check:
            assert same and before != after

        # 5. unbind lets the block take another channel count
        try:
            block(ctx.zeros((1, 3, 28, 28)))
            refused = None
        except inc.InceptionError as e:
            refused = e.status
        block.unbind()
        y = block(ctx.zeros((1, 3, 28, 28)))
        print("5. bound to 192 channels, 3 give %s; after unbind(): output %s"
              % (refused, y.shape))
        if args.check:
            assert refused == "INC_ERR_SHAPE" and y.shape == (1, 256, 28, 28)
    if args.check:
        print("lecture: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
