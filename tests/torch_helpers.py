"""PyTorch-side helpers for comparing our networks with timm's own modules (src/timm_reference.py imports timm):
random but well-conditioned weights with calibrated BatchNorm statistics, state_dicts as NumPy, eval logits."""
import math

import numpy as np
import torch
from torch import nn

from src.timm_reference import import_timm


def timm_model(name: str, num_classes: int, **kwargs) -> nn.Module:
    """timm's own network `name` (no pretrained weights: the hub is out of reach)."""
    return import_timm().create_model(name, pretrained=False, num_classes=num_classes, **kwargs)


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
