"""torch_models.py: the library's networks in PyTorch, module for module.

googlenet(classes) is the D2L GoogLeNet (Dive into Deep Learning, ch. 8.4)
as inc_googlenet_create builds it; googlenet(classes, bn=True) puts a
BatchNorm2d between every convolution and its ReLU, as
inc_googlenet_bn_create does. The nn.Sequential numbering and the branch
names p1..p4 are the library's, so a state_dict and the library's files
name every tensor alike ("2.0.p2.3.weight", "2.0.p2.4.running_mean").
Used by bench_torch.py, train_torch.py and tests/python/test_state_dict.py.
"""
import torch
from torch import nn


def conv_relu(c_in, c_out, k, s=1, p=0, bn=False):
    """Conv2d (+ BatchNorm2d) + ReLU, as a list of modules."""
    mods = [nn.Conv2d(c_in, c_out, k, s, p)]
    if bn:
        mods.append(nn.BatchNorm2d(c_out))
    return mods + [nn.ReLU()]


class Inception(nn.Module):
    """The D2L Inception block: branches p1..p4 concatenated on channels."""

    def __init__(self, c_in, c1, c2, c3, c4, bn=False):
        super().__init__()
        self.p1 = nn.Sequential(*conv_relu(c_in, c1, 1, bn=bn))
        self.p2 = nn.Sequential(*conv_relu(c_in, c2[0], 1, bn=bn),
                                *conv_relu(c2[0], c2[1], 3, p=1, bn=bn))
        self.p3 = nn.Sequential(*conv_relu(c_in, c3[0], 1, bn=bn),
                                *conv_relu(c3[0], c3[1], 5, p=2, bn=bn))
        self.p4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), *conv_relu(c_in, c4, 1, bn=bn))

    def forward(self, x):
        return torch.cat((self.p1(x), self.p2(x), self.p3(x), self.p4(x)), dim=1)


def googlenet(classes=10, bn=False):
    def inc(*a):
        return Inception(*a, bn=bn)
    b1 = nn.Sequential(*conv_relu(1, 64, 7, 2, 3, bn=bn), nn.MaxPool2d(3, 2, 1))
    b2 = nn.Sequential(*conv_relu(64, 64, 1, bn=bn), *conv_relu(64, 192, 3, p=1, bn=bn),
                       nn.MaxPool2d(3, 2, 1))
    b3 = nn.Sequential(inc(192, 64, (96, 128), (16, 32), 32),
                       inc(256, 128, (128, 192), (32, 96), 64), nn.MaxPool2d(3, 2, 1))
    b4 = nn.Sequential(inc(480, 192, (96, 208), (16, 48), 64),
                       inc(512, 160, (112, 224), (24, 64), 64),
                       inc(512, 128, (128, 256), (24, 64), 64),
                       inc(512, 112, (144, 288), (32, 64), 64),
                       inc(528, 256, (160, 320), (32, 128), 128), nn.MaxPool2d(3, 2, 1))
    b5 = nn.Sequential(inc(832, 256, (160, 320), (32, 128), 128),
                       inc(832, 384, (192, 384), (48, 128), 128),
                       nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten())
    return nn.Sequential(b1, b2, b3, b4, b5, nn.Linear(1024, classes))


def basic_conv(c_in, c_out, kh, kw):
    """torchvision's BasicConv2d: conv without bias ("same" padding), batch
    norm (eps 1e-3), ReLU, as a list of modules."""
    return [nn.Conv2d(c_in, c_out, (kh, kw), padding=(kh // 2, kw // 2), bias=False),
            nn.BatchNorm2d(c_out, eps=1e-3), nn.ReLU()]


class InceptionV3(nn.Module):
    """inc_inception_v3_create's block: torchvision's InceptionC for n = 7."""

    def __init__(self, c_in, c1, c_reduce, c, c_pool, n):
        super().__init__()
        r = c_reduce
        self.p1 = nn.Sequential(*basic_conv(c_in, c1, 1, 1))
        self.p2 = nn.Sequential(*basic_conv(c_in, r, 1, 1), *basic_conv(r, r, 1, n),
                                *basic_conv(r, c, n, 1))
        self.p3 = nn.Sequential(*basic_conv(c_in, r, 1, 1), *basic_conv(r, r, n, 1),
                                *basic_conv(r, r, 1, n), *basic_conv(r, r, n, 1),
                                *basic_conv(r, c, 1, n))
        self.p4 = nn.Sequential(nn.AvgPool2d(3, 1, 1), *basic_conv(c_in, c_pool, 1, 1))

    def forward(self, x):
        return torch.cat((self.p1(x), self.p2(x), self.p3(x), self.p4(x)), dim=1)


def init_like_library(net, scheme="xavier"):
    """Weights as the library initialises them: Xavier- or Kaiming-uniform
    conv and dense weights, zero biases (batch norms keep PyTorch's ones and
    zeros, which are the library's too)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if scheme == "kaiming":
                nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
            else:
                nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return net
