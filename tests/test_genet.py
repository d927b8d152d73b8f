"""GENet-Res50 (Gather-Excite on ResNet-50): exact counts, the extra/mlp switches, forward, backward, resolution."""
import numpy as np
import pytest
import mindspore as ms
from mindspore import nn

from src.models.genet import GENetRes50
from src.models.registry import create_model
from src.models.utils import count_params

# Trainable parameters at 1000 classes (model-zoo GENet_Res50 structure), with the zoo's extra / mlp switches.
VARIANTS = {
    "genet_res50_theta_minus": (25_557_032, False, False),
    "genet_res50_theta": (31_071_272, True, False),
    "genet_res50_theta_plus": (33_586_216, True, True),
}
SMALL = 64  # tiny resolution for the forward / backward tests: feature maps 16, 8, 4, 2


def _images(batch, size, seed=0):
    return ms.Tensor(np.random.default_rng(seed).standard_normal((batch, 3, size, size)).astype(np.float32))


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_class_switches_match_the_named_builders(name):
    count, extra, mlp = VARIANTS[name]  # the named builders' counts are checked in test_models.py
    assert count_params(GENetRes50(1000, extra=extra, mlp=mlp)) == count


def test_mean_gather_with_mlp_is_buildable():
    """The zoo's switches allow extra=False, mlp=True: theta-minus plus the MLP's 2,514,944 weights."""
    assert count_params(GENetRes50(1000, extra=False, mlp=True)) == 25_557_032 + 2_514_944


def test_backward_theta_plus_every_parameter_gets_gradient():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    net = create_model("genet_res50_theta_plus", num_classes=7, image_size=SMALL, drop_rate=0.2)
    assert isinstance(net.dropout, nn.Dropout)
    net.set_train(True)
    loss_net = nn.WithLossCell(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean"))
    params = net.trainable_params()
    grads = ms.grad(loss_net, grad_position=None, weights=params)(_images(4, SMALL),
                                                                   ms.Tensor(np.array([1, 5, 0, 6], np.int32)))
    size = {p.name: float(np.abs(g.asnumpy()).max()) for p, g in zip(params, grads)}
    # The beta of the first stage's dense-conv BN is a per-channel constant after the full-extent gather, which the
    # gather's BN (batch statistics) removes: its gradient is zero up to rounding. Every other parameter learns.
    cancelled = [n for n in size if ".ge.down.1.beta" in n]
    assert len(cancelled) == 3
    dead = [n for n in size if n not in cancelled and not size[n] > 0]
    assert not dead, f"no gradient for {dead}"
    for name in cancelled:
        assert size[name] < 1e-3 * size[name.replace(".beta", ".gamma")], name


@pytest.mark.parametrize("mode", [ms.PYNATIVE_MODE, ms.GRAPH_MODE], ids=["pynative", "graph"])
def test_wrong_resolution_is_a_clear_error(mode):
    previous = ms.get_context("mode")
    ms.set_context(mode=mode)
    try:
        net = create_model("genet_res50_theta", num_classes=7, image_size=SMALL)
        net.set_train(False)
        assert net(_images(1, SMALL)).shape == (1, 7)  # the size check compiles away at the built resolution
        with pytest.raises(ValueError, match=r"built for 64x64 inputs.*got 96x96"):
            net(_images(1, 96))
    finally:
        ms.set_context(mode=previous)


def test_theta_minus_runs_at_any_resolution():
    ms.set_context(mode=ms.PYNATIVE_MODE)
    net = GENetRes50(7, extra=False, mlp=False, image_size=SMALL)
    net.set_train(False)
    assert net(_images(1, 32)).shape == (1, 7)


def test_bad_image_size_refused():
    with pytest.raises(ValueError, match="image_size must be a positive integer"):
        GENetRes50(7, image_size=0)
