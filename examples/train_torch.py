#!/usr/bin/python3
"""train_torch.py: examples/train's recipe in PyTorch, for side-by-side runs.

The same networks (torch_models.py: googlenet, googlenet-bn), the same data
(Fashion-MNIST from the IDX files, pixels / 255, resized bilinearly when
--size is not 28), minibatch SGD with PyTorch's momentum rule, softmax
cross-entropy (with --label-smoothing, PyTorch's definition), optional
linear warmup and dropout before the classifier, --augment (random flips and
P-padded random crops, as examples/train's: the same distribution, not the
same draws), and one line per epoch in
examples/train's format: "epoch E/N  loss L  train acc A  test acc T  R
img/s" (loss and train acc are running means over the epoch's minibatches).
Run it with Debian's python3-torch:

    /usr/bin/python3 examples/train_torch.py --model googlenet-bn --lr 0.1
"""
import argparse
import gzip
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path, limit):
    with gzip.open(path, "rb") as f:
        magic, = struct.unpack(">I", f.read(4))
        ndim = magic & 0xFF
        dims = struct.unpack(">" + "I" * ndim, f.read(4 * ndim))
        data = np.frombuffer(f.read(), dtype=np.uint8).reshape(dims)
    return data[:limit] if limit else data


def load(split, size, limit):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(DATA, prefix + "-images-idx3-ubyte.gz"), limit)
    y = read_idx(os.path.join(DATA, prefix + "-labels-idx1-ubyte.gz"), limit)
    x = torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)
    if size != 28:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x, torch.from_numpy(y.astype(np.int64))


def build(args):
    net = torch_models.googlenet(10, bn=args.model == "googlenet-bn")
    torch_models.init_like_library(net, args.init)
    if args.dropout > 0:  # before the classifier, as the library's builder puts it
        net[4].append(nn.Dropout(args.dropout))
    return net


def parse_augment(spec):
    """(flip, pad) from examples/train's --augment spelling."""
    flip, pad = False, 0
    if spec == "none":
        return flip, pad
    for part in spec.split(","):
        if part == "flip" and not flip:
            flip = True
        elif part.startswith("crop=") and not pad and part[5:].isdigit() \
                and 1 <= int(part[5:]) <= 16:
            pad = int(part[5:])
        else:
            raise SystemExit("--augment: %r is not flip, crop=P or none" % part)
    return flip, pad


def augment(xb, flip, pad):
    """Mirror each image left-right with probability 1/2, then shift it by
    -pad..pad pixels per axis with zeros coming in (RandomHorizontalFlip,
    RandomCrop(size, padding=pad))."""
    if flip:
        m = torch.rand(len(xb)) < 0.5
        xb = torch.where(m[:, None, None, None], xb.flip(3), xb)
    if pad:
        n, _, h, w = xb.shape
        padded = F.pad(xb, (pad, pad, pad, pad))
        oy = torch.randint(0, 2 * pad + 1, (n,))
        ox = torch.randint(0, 2 * pad + 1, (n,))
        xb = torch.stack([padded[i, :, oy[i]:oy[i] + h, ox[i]:ox[i] + w] for i in range(n)])
    return xb


def evaluate(net, x, y, batch):
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            correct += (net(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(y)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["googlenet", "googlenet-bn"], default="googlenet")
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--batch", type=int, default=None,
                    help="default 96, 32 for googlenet-bn (as examples/train)")
    ap.add_argument("--lr", type=float, default=None,
                    help="default 0.04, 0.1 for googlenet-bn (as examples/train)")
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=None,
                    help="default 5e-4 (as examples/train's quick recipes)")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--init", choices=["xavier", "kaiming"], default="kaiming")
    ap.add_argument("--warmup", type=int, default=None,
                    help="steps of linear warmup (default: 200, 0 for googlenet-bn)")
    ap.add_argument("--schedule", choices=["constant", "cosine"], default=None,
                    help="after the warmup (default: cosine, as examples/train's quick recipes)")
    ap.add_argument("--label-smoothing", type=float, default=None,
                    help="default 0.1 (as examples/train's quick recipes)")
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--augment", default=None,
                    help="none, flip, crop=P or flip,crop=P (default: as examples/train)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--test-limit", type=int, default=0)
    args = ap.parse_args()
    if args.warmup is None:
        args.warmup = 0 if args.model == "googlenet-bn" else 200
    bn = args.model == "googlenet-bn"
    if args.batch is None:
        args.batch = 32 if bn else 96
    if args.lr is None:
        args.lr = 0.1 if bn else 0.04
    if args.schedule is None:
        args.schedule = "cosine"
    if args.weight_decay is None:
        args.weight_decay = 5e-4
    if args.label_smoothing is None:
        args.label_smoothing = 0.1
    if args.augment is None:
        args.augment = "none"
    aug_flip, aug_pad = parse_augment(args.augment)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train_x, train_y = load("train", args.size, args.limit)
    test_x, test_y = load("test", args.size, args.test_limit)
    net = build(args)
    opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=args.momentum,
                          weight_decay=args.weight_decay)
    print("torch %s, %d threads; recipe: model %s, size %d, batch %d, lr %g, momentum %g, "
          "weight decay %g, epochs %d, init %s, warmup %d, schedule %s, label smoothing %g, "
          "dropout %g, augment %s, seed %d"
          % (torch.__version__, torch.get_num_threads(), args.model, args.size, args.batch,
             args.lr, args.momentum, args.weight_decay, args.epochs, args.init, args.warmup,
             args.schedule,
             args.label_smoothing, args.dropout, args.augment, args.seed), flush=True)
    step, t_start = 0, time.time()
    total_steps = args.epochs * ((len(train_y) + args.batch - 1) // args.batch)
    for epoch in range(1, args.epochs + 1):
        net.train()
        perm = torch.randperm(len(train_y))
        loss_sum, hits, seen, t0 = 0.0, 0, 0, time.time()
        for i in range(0, len(perm), args.batch):
            idx = perm[i:i + args.batch]
            xb, yb = augment(train_x[idx], aug_flip, aug_pad), train_y[idx]
            lr = args.lr * (min(1.0, (step + 1) / args.warmup) if args.warmup else 1.0)
            if args.schedule == "cosine":
                lr *= 0.5 * (1.0 + math.cos(math.pi * step / total_steps))
            for g in opt.param_groups:
                g["lr"] = lr
            logits = net(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=args.label_smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            loss_sum += loss.item() * len(yb)
            hits += (logits.argmax(1) == yb).sum().item()
            seen += len(yb)
        ips = seen / (time.time() - t0)
        acc = evaluate(net, test_x, test_y, args.batch)
        print("epoch %d/%d  loss %.3f  train acc %.3f  test acc %.3f  %.0f img/s"
              % (epoch, args.epochs, loss_sum / seen, hits / seen, acc, ips), flush=True)
    print("total %.1f s" % (time.time() - t_start))


if __name__ == "__main__":
    main()
