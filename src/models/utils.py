"""Small helpers shared by the model code and the tools."""
import mindspore as ms
import numpy as np
from mindspore import nn


def count_params(net: nn.Cell) -> int:
    """Number of trainable parameters (conv/dense weights and biases, BN gamma and beta)."""
    return int(sum(p.size for p in net.trainable_params()))


def freeze_batch_norm(net: nn.Cell) -> int:
    """Make every BN layer normalise with its running statistics, in training too, and stop updating them (for
    fine-tuning with small per-device batches; gamma and beta still learn). Returns how many layers changed."""
    layers = [cell for _, cell in net.cells_and_names() if isinstance(cell, (nn.BatchNorm2d, nn.BatchNorm1d))]
    for cell in layers:
        cell.use_batch_statistics = False
    return len(layers)


def count_macs(net: nn.Cell, image_size: int = 224, in_channels: int = 3) -> int:
    """Multiply-accumulates of one forward pass at `image_size` (convolutions and dense layers, batch 1).

    Measured with forward hooks, which MindSpore runs in PyNative mode only; the mode is restored afterwards.
    """
    total = [0]

    def conv_hook(cell, inputs, output):
        _, out_c, out_h, out_w = output.shape
        k_h, k_w = cell.kernel_size
        total[0] += out_c * out_h * out_w * (cell.in_channels // cell.group) * k_h * k_w

    def dense_hook(cell, inputs, output):
        total[0] += cell.in_channels * cell.out_channels

    handles = []
    for _, cell in net.cells_and_names():
        if isinstance(cell, nn.Conv2d):
            handles.append(cell.register_forward_hook(conv_hook))
        elif isinstance(cell, nn.Dense):
            handles.append(cell.register_forward_hook(dense_hook))
    mode, was_training = ms.get_context("mode"), net.training
    ms.set_context(mode=ms.PYNATIVE_MODE)
    net.set_train(False)
    try:
        net(ms.Tensor(np.zeros((1, in_channels, image_size, image_size), np.float32)))
    finally:
        for handle in handles:
            handle.remove()
        ms.set_context(mode=mode)
        net.set_train(was_training)
    return total[0]
