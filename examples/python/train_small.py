#!/usr/bin/env python3
"""train_small.py — train a small Inception network from Python.

    python3 examples/python/train_small.py                 # Fashion-MNIST subset if installed
    python3 examples/python/train_small.py --synthetic     # synthetic images, no data needed
    python3 examples/python/train_small.py --limit 6000 --epochs 2 --backend cuda

The network is the D2L recipe in miniature, for 28x28 inputs:
conv 3x3 16 pad 1, ReLU, max pool 2 (14x14), Inception(8, (8, 16), (4, 8), 8),
max pool 3 s2 p1 (7x7), Inception(16, (16, 32), (4, 8), 8), global average
pooling, flatten, dense 10; Kaiming-uniform weights (--init), SGD with
momentum; the loss is printed as it falls. Fashion-MNIST is read from Debian's dataset-fashion-mnist
(/usr/share/datasets/fashion-mnist, gzip IDX files) with gzip + struct only;
without it (or with --synthetic) the images are synthetic: each class is a
bar at its own angle, plus noise.

--check exits with status 1 unless the last reported loss is below 70% of
the first (make check-python runs it on synthetic data).
"""
import argparse
import gzip
import math
import os
import random
import struct
import sys
import time

try:  # installed (pip install ./python), else the package beside these examples
    import inception as inc
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "python"))
    import inception as inc  # noqa: E402

FMNIST_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot"]


def read_idx(path, magic, limit):
    """The records of a gzip IDX file as (count, dims, bytes), at most limit."""
    with gzip.open(path, "rb") as f:
        head = f.read(4)
        got = struct.unpack(">I", head)[0]
        if got != magic:
            raise ValueError("%s: magic %d, expected %d" % (path, got, magic))
        ndim = got & 0xFF
        dims = struct.unpack(">" + "I" * ndim, f.read(4 * ndim))
        count = min(dims[0], limit)
        size = 1
        for d in dims[1:]:
            size *= d
        data = f.read(count * size)
        if len(data) != count * size:
            raise ValueError("%s: truncated" % path)
        return count, dims[1:], data


def fashion_mnist(split, limit):
    """(images as lists of 28*28 floats in [0, 1], labels) of a split."""
    prefix = "train" if split == "train" else "t10k"
    n, dims, pixels = read_idx(os.path.join(FMNIST_DIR, prefix + "-images-idx3-ubyte.gz"),
                               2051, limit)
    m, _, labels = read_idx(os.path.join(FMNIST_DIR, prefix + "-labels-idx1-ubyte.gz"), 2049,
                            limit)
    if n != m or tuple(dims) != (28, 28):
        raise ValueError("Fashion-MNIST %s: %d images of %r, %d labels" % (split, n, dims, m))
    size = 28 * 28
    if inc.HAVE_NUMPY:
        import numpy as np
        images = np.frombuffer(pixels, dtype=np.uint8).reshape(n, 1, 28, 28).astype(np.float32)
        return images / 255.0, np.frombuffer(labels, dtype=np.uint8).astype(np.int32)
    images = [[[[pixels[i * size + r * 28 + c] / 255.0 for c in range(28)] for r in range(28)]]
              for i in range(n)]
    return images, list(labels)


def synthetic(n, seed):
    """n images (1, 28, 28): class k is a bar through the centre at angle
    k * 18 degrees on a background of brightness 0.05 * k, plus noise."""
    rng = random.Random(seed)
    images, labels = [], []
    for i in range(n):
        k = rng.randrange(10)
        a = math.radians(k * 18.0)
        ca, sa = math.cos(a), math.sin(a)
        img = []
        for r in range(28):
            row = []
            for c in range(28):
                y, x = r - 13.5, c - 13.5
                dist = abs(-sa * x + ca * y)
                row.append(max(0.0, 1.0 - dist / 2.0) + 0.05 * k + rng.uniform(-0.1, 0.1))
            img.append(row)
        images.append([img])
        labels.append(k)
    return images, labels


def build(ctx):
    return inc.sequential(
        ctx,
        inc.conv2d(ctx, 16, 3, 1, 1), inc.relu(ctx), inc.max_pool2d(ctx, 2),
        inc.inception(ctx, 8, (8, 16), (4, 8), 8),
        inc.max_pool2d(ctx, 3, 2, 1),
        inc.inception(ctx, 16, (16, 32), (4, 8), 8),
        inc.global_avg_pool2d(ctx), inc.flatten(ctx), inc.dense(ctx, 10))


def batches(n, size, rng):
    order = list(range(n))
    rng.shuffle(order)
    for i in range(0, n - size + 1, size):
        yield order[i:i + size]


def take(data, idx):
    if inc.HAVE_NUMPY and hasattr(data, "shape"):
        return data[idx]
    return [data[i] for i in idx]


def evaluate(ctx, net, images, labels, batch):
    correct = total = 0
    n = len(labels)
    for i in range(0, n, batch):
        idx = list(range(i, min(n, i + batch)))
        logits = net(ctx.tensor(take(images, idx)))
        _, c = inc.softmax_cross_entropy(logits, take(labels, idx))
        correct, total = correct + c, total + len(idx)
    return correct / max(total, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--synthetic", action="store_true", help="synthetic images, no data set")
    ap.add_argument("--limit", type=int, default=2000, help="training images (default 2000)")
    ap.add_argument("--test-limit", type=int, default=500, help="test images (default 500)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: no limit)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--backend", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--init", default="kaiming_uniform",
                    choices=["xavier_uniform", "xavier_normal", "kaiming_uniform",
                             "kaiming_normal", "normal_001"])
    ap.add_argument("--save", help="write a checkpoint here at the end")
    ap.add_argument("--check", action="store_true", help="fail unless the loss falls")
    args = ap.parse_args()

    real = not args.synthetic and os.path.exists(os.path.join(FMNIST_DIR,
                                                              "train-images-idx3-ubyte.gz"))
    if real:
        train_x, train_y = fashion_mnist("train", args.limit)
        test_x, test_y = fashion_mnist("test", args.test_limit)
        source = "Fashion-MNIST (%d train, %d test images)" % (len(train_y), len(test_y))
    else:
        train_x, train_y = synthetic(args.limit if args.steps == 0 else
                                     min(args.limit, args.steps * args.batch), args.seed)
        test_x, test_y = synthetic(min(args.test_limit, 200), args.seed + 1)
        source = "synthetic bars (%d train, %d test images)" % (len(train_y), len(test_y))

    ctx = inc.Context(args.backend, seed=args.seed)
    net = build(ctx)
    net.initialize(args.init)
    print("libinception %s on %s; %s" % (inc.version(), ctx.device_name, source))
    print("parameters: %d" % (net.infer_shape((args.batch, 1, 28, 28)) and net.param_numel))
    opt = inc.SGD(ctx, lr=args.lr, momentum=args.momentum)
    rng = random.Random(args.seed)
    dlogits = None
    step, reported, window, start = 0, [], [], time.time()
    every = 10
    for epoch in range(1, args.epochs + 1):
        for idx in batches(len(train_y), args.batch, rng):
            x = ctx.tensor(take(train_x, idx))
            logits = net(x, training=True)
            if dlogits is None:
                dlogits = ctx.zeros(logits.shape)
            loss, _ = inc.softmax_cross_entropy(logits, take(train_y, idx), dlogits)
            net.backward(dlogits)
            opt.step(net)
            step += 1
            window.append(loss)
            if step % every == 0:
                mean = sum(window) / len(window)
                reported.append(mean)
                window = []
                print("epoch %d step %4d  loss %.4f  (%.1f s)" % (epoch, step, mean,
                                                                  time.time() - start))
            if args.steps and step >= args.steps:
                break
        if args.steps and step >= args.steps:
            break
    acc = evaluate(ctx, net, test_x, test_y, args.batch)
    print("test accuracy %.3f after %d steps" % (acc, step))
    if args.save:
        inc.checkpoint_save(net, args.save, optimizer=opt,
                            metadata={"steps": step, "source": source, "test_accuracy": acc})
        print("saved %s (steps=%s)" % (args.save, inc.checkpoint_metadata(args.save, "steps")))
    if args.check:
        if len(reported) < 2 or not reported[-1] < 0.7 * reported[0]:
            print("train_small: FAIL: the loss did not fall enough: %s" % reported)
            return 1
        print("train_small: ok: loss %.4f -> %.4f" % (reported[0], reported[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
