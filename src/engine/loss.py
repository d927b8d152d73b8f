"""Cross entropy with label smoothing: the zoo's one classification loss.

Convention (PyTorch's and timm's): the smoothed target is (1 - eps) * one_hot + eps / N, which sums to one.
The old model zoo used two others (off-value eps / (N - 1) for GhostNet and MobileNetV1, eps / N with an
un-normalised on-value for GENet); eps = 0 is plain cross entropy. Soft targets (N-wide rows, e.g. from mixup)
are accepted as well as integer labels.
"""
from mindspore import nn, ops
import mindspore as ms


class CrossEntropySmooth(nn.Cell):
    """Mean label-smoothed cross entropy of logits (B, N) against int labels (B,) or soft targets (B, N)."""

    def __init__(self, smoothing: float = 0.0, num_classes: int = 1000):
        super().__init__()
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"label smoothing must be in [0, 1), got {smoothing}")
        self.smoothing = float(smoothing)
        self.num_classes = num_classes
        self.log_softmax = nn.LogSoftmax(axis=-1)
        self.one_hot = ops.OneHot()
        self.on = ms.Tensor(1.0, ms.float32)
        self.off = ms.Tensor(0.0, ms.float32)

    def construct(self, logits, labels):
        logp = self.log_softmax(logits.astype(ms.float32))
        if labels.ndim == 1:
            target = self.one_hot(labels, logits.shape[-1], self.on, self.off)
        else:
            target = labels.astype(ms.float32)
        if self.smoothing > 0:
            target = target * (1.0 - self.smoothing) + self.smoothing / logits.shape[-1]
        return -(target * logp).sum(-1).mean()


def create_loss(label_smoothing: float = 0.0, num_classes: int = 1000) -> nn.Cell:
    """The classification loss: cross entropy with `label_smoothing`."""
    return CrossEntropySmooth(label_smoothing, num_classes)
