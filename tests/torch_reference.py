"""Minimal PyTorch networks with the official GhostNet and timm MobileNetV1 structure and state_dict layout, to test
the weight converter against a real forward pass. Written from the published architecture descriptions; only
the module tree and the key names must match the originals exactly.

GhostNet (official `ghostnet_pytorch/ghostnet.py`, identical keys in timm's `ghostnet_100`): `conv_stem`, `bn1`,
`blocks.{stage}.{j}` (16 bottlenecks in 9 stages) with `ghost1` / `ghost2` (`primary_conv.{0,1}`,
`cheap_operation.{0,1}`), `conv_dw` / `bn_dw` on stride-2 blocks, `se.conv_reduce` / `se.conv_expand`,
`shortcut.{0,1,2,3}`, the final ConvBnAct `blocks.9.0.conv` / `blocks.9.0.bn1`, `conv_head` (bias), `classifier`.
MobileNetV1 (timm `mobilenetv1_100`): `conv_stem`, `bn1`, `blocks.{0..4}.{j}.conv_dw / bn1 / conv_pw / bn2`
(stages of 1, 2, 2, 6, 2), `classifier`; ReLU6 and no residual.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def make_divisible(v, divisor, min_value=None):
    """The official GhostNet / timm rounding: nearest multiple, at least `min_value`, never 10% below `v`."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def hard_sigmoid(x):
    return F.relu6(x + 3.0) / 6.0


class SqueezeExcite(nn.Module):
    def __init__(self, chs, se_ratio=0.25, divisor=4):
        super().__init__()
        reduced = make_divisible(chs * se_ratio, divisor)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_reduce = nn.Conv2d(chs, reduced, 1, bias=True)
        self.act1 = nn.ReLU()
        self.conv_expand = nn.Conv2d(reduced, chs, 1, bias=True)

    def forward(self, x):
        s = self.conv_expand(self.act1(self.conv_reduce(self.avg_pool(x))))
        return x * hard_sigmoid(s)


class ConvBnAct(nn.Module):
    def __init__(self, in_chs, out_chs, kernel_size, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride, kernel_size // 2, bias=False)
        self.bn1 = nn.BatchNorm2d(out_chs)
        self.act1 = nn.ReLU()

    def forward(self, x):
        return self.act1(self.bn1(self.conv(x)))


class GhostModule(nn.Module):
    def __init__(self, inp, oup, kernel_size=1, ratio=2, dw_size=3, stride=1, relu=True):
        super().__init__()
        self.oup = oup
        init_channels = math.ceil(oup / ratio)
        new_channels = init_channels * (ratio - 1)
        self.primary_conv = nn.Sequential(
            nn.Conv2d(inp, init_channels, kernel_size, stride, kernel_size // 2, bias=False),
            nn.BatchNorm2d(init_channels),
            nn.ReLU() if relu else nn.Sequential(),
        )
        self.cheap_operation = nn.Sequential(
            nn.Conv2d(init_channels, new_channels, dw_size, 1, dw_size // 2, groups=init_channels, bias=False),
            nn.BatchNorm2d(new_channels),
            nn.ReLU() if relu else nn.Sequential(),
        )

    def forward(self, x):
        x1 = self.primary_conv(x)
        x2 = self.cheap_operation(x1)
        return torch.cat([x1, x2], dim=1)[:, :self.oup, :, :]


class GhostBottleneck(nn.Module):
    def __init__(self, in_chs, mid_chs, out_chs, dw_kernel_size=3, stride=1, se_ratio=0.0):
        super().__init__()
        self.stride = stride
        self.ghost1 = GhostModule(in_chs, mid_chs, relu=True)
        if stride > 1:
            self.conv_dw = nn.Conv2d(mid_chs, mid_chs, dw_kernel_size, stride=stride,
                                     padding=(dw_kernel_size - 1) // 2, groups=mid_chs, bias=False)
            self.bn_dw = nn.BatchNorm2d(mid_chs)
        self.se = SqueezeExcite(mid_chs, se_ratio=se_ratio) if se_ratio and se_ratio > 0 else None
        self.ghost2 = GhostModule(mid_chs, out_chs, relu=False)
        if in_chs == out_chs and stride == 1:
            self.shortcut = nn.Sequential()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_chs, in_chs, dw_kernel_size, stride=stride, padding=(dw_kernel_size - 1) // 2,
                          groups=in_chs, bias=False),
                nn.BatchNorm2d(in_chs),
                nn.Conv2d(in_chs, out_chs, 1, stride=1, padding=0, bias=False),
                nn.BatchNorm2d(out_chs),
            )

    def forward(self, x):
        residual = x
        x = self.ghost1(x)
        if self.stride > 1:
            x = self.bn_dw(self.conv_dw(x))
        if self.se is not None:
            x = self.se(x)
        x = self.ghost2(x)
        return x + self.shortcut(residual)


# The official configuration: k, expansion, out, se_ratio, stride; one inner list per stage.
GHOSTNET_CFGS = [
    [[3, 16, 16, 0, 1]],
    [[3, 48, 24, 0, 2]],
    [[3, 72, 24, 0, 1]],
    [[5, 72, 40, 0.25, 2]],
    [[5, 120, 40, 0.25, 1]],
    [[3, 240, 80, 0, 2]],
    [[3, 200, 80, 0, 1], [3, 184, 80, 0, 1], [3, 184, 80, 0, 1], [3, 480, 112, 0.25, 1], [3, 672, 112, 0.25, 1]],
    [[5, 672, 160, 0.25, 2]],
    [[5, 960, 160, 0, 1], [5, 960, 160, 0.25, 1], [5, 960, 160, 0, 1], [5, 960, 160, 0.25, 1]],
]


class GhostNet(nn.Module):
    def __init__(self, num_classes=1000, width=1.0, dropout=0.2):
        super().__init__()
        self.dropout = dropout
        out = make_divisible(16 * width, 4)
        self.conv_stem = nn.Conv2d(3, out, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out)
        self.act1 = nn.ReLU()
        inp = out
        stages = []
        exp = None
        for cfg in GHOSTNET_CFGS:
            layers = []
            for k, exp, c, se_ratio, s in cfg:
                out = make_divisible(c * width, 4)
                hidden = make_divisible(exp * width, 4)
                layers.append(GhostBottleneck(inp, hidden, out, k, s, se_ratio=se_ratio))
                inp = out
            stages.append(nn.Sequential(*layers))
        out = make_divisible(exp * width, 4)
        stages.append(nn.Sequential(ConvBnAct(inp, out, 1)))
        self.blocks = nn.Sequential(*stages)
        self.global_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.conv_head = nn.Conv2d(out, 1280, 1, 1, 0, bias=True)
        self.act2 = nn.ReLU()
        self.classifier = nn.Linear(1280, num_classes)

    def forward(self, x):
        x = self.blocks(self.act1(self.bn1(self.conv_stem(x))))
        x = self.act2(self.conv_head(self.global_pool(x)))
        x = x.view(x.size(0), -1)
        if self.dropout > 0.0:
            x = F.dropout(x, p=self.dropout, training=self.training)
        return self.classifier(x)


class DepthwiseSeparable(nn.Module):
    def __init__(self, in_chs, out_chs, stride):
        super().__init__()
        self.conv_dw = nn.Conv2d(in_chs, in_chs, 3, stride, 1, groups=in_chs, bias=False)
        self.bn1 = nn.BatchNorm2d(in_chs)
        self.conv_pw = nn.Conv2d(in_chs, out_chs, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_chs)

    def forward(self, x):
        x = F.relu6(self.bn1(self.conv_dw(x)))
        return F.relu6(self.bn2(self.conv_pw(x)))


# timm mobilenetv1_100 (`dsa` blocks: depthwise-separable with activation after the pointwise conv, no skip).
MOBILENET_V1_CFGS = [[(64, 1)], [(128, 2), (128, 1)], [(256, 2), (256, 1)], [(512, 2)] + [(512, 1)] * 5,
                     [(1024, 2), (1024, 1)]]


class MobileNetV1(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        inp = 32
        stages = []
        for cfg in MOBILENET_V1_CFGS:
            blocks = []
            for out, stride in cfg:
                blocks.append(DepthwiseSeparable(inp, out, stride))
                inp = out
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(inp, num_classes)

    def forward(self, x):
        x = self.blocks(F.relu6(self.bn1(self.conv_stem(x))))
        return self.classifier(torch.flatten(self.global_pool(x), 1))


def randomize(net: nn.Module, seed: int, calibration: torch.Tensor) -> nn.Module:
    """Random weights far from the default init, BN statistics calibrated on `calibration` and then perturbed.

    Conv / Linear weights He-normal (fan in) with random biases; BN gamma in [0.5, 1.5] and beta in [-0.5, 0.5].
    A train-mode forward with momentum=None sets every running mean / variance to the statistics that layer
    sees, so activations stay O(1) through the depth; each statistic is then perturbed (mean +- 0.2 std, variance
    x 0.7..1.4) so no BN is an identity or exactly calibrated. Returns the network in eval mode.
    """
    gen = torch.Generator().manual_seed(seed)

    def uniform(shape, low, high):
        return low + (high - low) * torch.rand(shape, generator=gen)

    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * math.sqrt(2.0 / fan_in))
                if module.bias is not None:
                    module.bias.copy_(uniform(module.bias.shape, -0.2, 0.2))
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.copy_(uniform(module.weight.shape, 0.5, 1.5))
                module.bias.copy_(uniform(module.bias.shape, -0.5, 0.5))
                module.running_mean.copy_(uniform(module.running_mean.shape, -1.0, 1.0))
                module.running_var.copy_(uniform(module.running_var.shape, 0.5, 2.0))
                module.momentum = None  # cumulative average: one batch gives exactly its statistics
                module.reset_running_stats()
        net.train()
        net(calibration)
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                std = module.running_var.sqrt()
                module.running_mean.add_(0.2 * std * (2 * torch.rand(std.shape, generator=gen) - 1))
                module.running_var.mul_(uniform(std.shape, 0.7, 1.4))
                module.momentum = 0.1
    return net.eval()


def state_dict_numpy(net: nn.Module):
    return {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}


def logits(net: nn.Module, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net.eval()(torch.from_numpy(images)).numpy()
