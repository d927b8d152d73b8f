"""Small helpers shared by the model code and the tools."""
from mindspore import nn


def count_params(net: nn.Cell) -> int:
    """Number of trainable parameters (conv/dense weights and biases, BN gamma and beta)."""
    return int(sum(p.size for p in net.trainable_params()))
