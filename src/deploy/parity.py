"""Numerical comparison that can fail: BatchNorm statistics calibrated so activations stay O(1), and differences
measured against the outputs' scale (used by the export parity checks, weight conversion and re-parameterisation
tests)."""
import mindspore as ms
import numpy as np
from mindspore import nn


def calibrate_batchnorm(net, images) -> None:
    """Set every BatchNorm's moving statistics to the batch statistics of its input on `images`.

    With random weights and default statistics (mean 0, variance 1) activations can grow or vanish through a
    deep network, so any two networks "agree"; calibrated statistics keep them O(1), which makes numerical
    comparisons meaningful. Runs one training-mode forward pass in PyNative mode (hooks need it) on MindSpore's
    standard operators: our kernels' training paths may run a BatchNorm's ops without calling the cell (GENet's
    product after bn3), which its hook would not see.
    """
    from ..kernels.depthwise import standard_ops
    stats = {}

    def capture(name):
        def hook(cell, inputs):
            x = inputs[0].asnumpy().astype(np.float64)
            axes = (0, 2, 3) if x.ndim == 4 else (0,)
            stats[name] = (x.mean(axis=axes), x.var(axis=axes))
        return hook

    handles = [cell.register_forward_pre_hook(capture(name)) for name, cell in net.cells_and_names()
               if isinstance(cell, (nn.BatchNorm2d, nn.BatchNorm1d))]
    mode = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    net.set_train(True)
    try:
        with standard_ops(net):
            net(images)
    finally:
        for handle in handles:
            handle.remove()
        net.set_train(False)
        ms.set_context(mode=mode)
    cells = dict(net.cells_and_names())
    for name, (mean, var) in stats.items():
        cells[name].moving_mean.set_data(ms.Tensor(mean.astype(np.float32)))
        cells[name].moving_variance.set_data(ms.Tensor(var.astype(np.float32)))


def relative_difference(reference, other) -> float:
    """max |reference - other| divided by the largest |reference| (the logits' scale)."""
    reference, other = np.asarray(reference, np.float64), np.asarray(other, np.float64)
    if reference.shape != other.shape:
        raise ValueError(f"outputs of shape {reference.shape} and {other.shape} cannot be compared")
    scale = float(np.abs(reference).max())
    if scale == 0:
        raise ValueError("the reference output is all zeros: nothing to compare")
    return float(np.abs(reference - other).max()) / scale
