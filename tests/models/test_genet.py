"""GENet-Res50 (Gather-Excite on ResNet-50): exact counts, the extra/mlp switches, forward, backward, resolution."""
import numpy as np
import pytest
import mindspore as ms
from mindspore import nn

from src.models.genet import GatherExcite, GENetRes50
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
    count, extra, mlp = VARIANTS[name]  # the named builders' counts: tests/models/test_registry.py
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


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.mark.parametrize("mode", [ms.PYNATIVE_MODE, ms.GRAPH_MODE], ids=["pynative", "graph"])
@pytest.mark.parametrize("extra,mlp,downsample", [(False, False, False), (True, False, True), (True, True, False)],
                         ids=["theta_minus", "theta_down", "theta_plus"])
def test_gather_excite_is_x_times_the_broadcast_gate(mode, extra, mlp, downsample):
    """The operator is x * sigmoid(context) with the (N, C, 1, 1) context broadcast over H and W, whatever the
    product is built from (GatherExcite expands the gate with BroadcastTo: the implicitly broadcast Mul held 4x its
    output's size on CPU). Inputs get per-channel offsets and the gather's BN statistics are calibrated on them, so
    the gates spread over the sigmoid's range and a changed function (another gather, no sigmoid, the gate on the
    wrong axes) shows far beyond the tolerance."""
    size, channels = 16, 32
    rng = np.random.default_rng(3)
    offsets = rng.uniform(-3.0, 3.0, (1, channels, 1, 1))
    x = (rng.standard_normal((4, channels, size, size)) + offsets).astype(np.float32)
    tensor = ms.Tensor(x)
    ge = GatherExcite(channels, size, extra=extra, mlp=mlp, downsample=downsample)
    ge.set_train(False)
    ms.set_context(mode=ms.PYNATIVE_MODE)  # the context from the operator's own sub-cells, called one by one
    if extra:  # calibrate the gather's BN on the conv's output: the context is then O(1) per channel
        conv_out = ge.gather[0](ge.down(tensor) if downsample else tensor).asnumpy()
        ge.gather[1].moving_mean.set_data(ms.Tensor(conv_out.mean(axis=(0, 2, 3)).astype(np.float32)))
        ge.gather[1].moving_variance.set_data(ms.Tensor(conv_out.var(axis=(0, 2, 3)).astype(np.float32)))
        context = ge.gather(ge.down(tensor) if downsample else tensor)
    else:
        context = ms.Tensor(x.mean(axis=(2, 3), keepdims=True))
    if mlp:  # the random C -> C/16 -> C MLP gives small outputs: widen its last layer so the gates spread
        ge.mlp[2].weight.set_data(ms.Tensor(ge.mlp[2].weight.asnumpy() * 8.0))
        context = ge.mlp(context)
    context = context.asnumpy().astype(np.float64)
    assert context.shape == (4, channels, 1, 1)
    gate = _sigmoid(context)
    assert gate.std() > 0.1, "the gates must spread for the comparison to mean something"
    reference = x.astype(np.float64) * gate

    ms.set_context(mode=mode)
    out = ge(tensor).asnumpy()
    assert out.shape == x.shape and out.dtype == np.float32
    scale = np.abs(reference).max()
    assert np.abs(out - reference).max() < 1e-5 * scale
    # the tolerance is far below what another function gives: the ungated input, or the gates of other channels
    assert np.abs(x - reference).max() > 1e-2 * scale
    assert np.abs(x * gate[:, ::-1] - reference).max() > 1e-2 * scale


def _with_gate_op(init, op):
    """BatchNorm2d.__init__ that then sets `gate_op` to `op`."""
    def patched(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.gate_op = op
    return patched


def _block_grads(fused, mode, x, weight):
    """Loss sum(block(x) * weight) of one theta-minus Bottleneck (seeded weights, gamma and beta of bn3 away from
    1 and 0) and its gradients to x and every parameter, with the Gather-Excite product run after bn3 as one op
    (`fused`) or as bn3 and then GatherExcite."""
    from src.models.resnet import Bottleneck
    ms.set_context(mode=mode)
    ms.set_seed(1)
    block = Bottleneck(64, 16, 64, attn=GatherExcite(64, 14, False, False, False), attn_name="ge")
    assert block.gate_after_bn
    block.gate_after_bn = fused
    channels = np.linspace(0, 1, 64).astype(np.float32)
    block.bn3.gamma.set_data(ms.Tensor(0.5 + channels))
    block.bn3.beta.set_data(ms.Tensor(2 * channels - 1))
    block.set_train(True)

    class Loss(nn.Cell):
        def __init__(self):
            super().__init__()
            self.block = block

        def construct(self, images):
            return (self.block(images) * weight).sum()

    loss = Loss()
    params = loss.trainable_params()
    value, (dx, grads) = ms.value_and_grad(loss, grad_position=0, weights=params)(x)
    return [value.asnumpy(), dx.asnumpy()] + [g.asnumpy() for g in grads], block


@pytest.mark.parametrize("mode", [ms.PYNATIVE_MODE, ms.GRAPH_MODE], ids=["pynative", "graph"])
def test_theta_minus_product_after_bn3_trains_as_the_plain_one(mode, monkeypatch):
    """In training, theta-minus runs bn3 and the Gather-Excite product as our BatchNorm's `gate_product` (its gate
    gradient reads bn3's input, so the graph need not keep bn3's output): the loss and the gradients to the input
    and every parameter equal those of bn3 followed by GatherExcite, within float32 rounding of each one's scale;
    a gradient of another input is far off. Theta and theta-plus keep the plain path (their gathers keep bn3's
    output anyway), and eval mode (where bn3 uses its moving statistics) takes the plain path too."""
    from src.kernels.batchnorm import BatchNorm2d
    rng = np.random.default_rng(4)
    x = ms.Tensor((rng.standard_normal((4, 64, 14, 14)) * 2 + 0.5).astype(np.float32))
    weight = ms.Tensor(rng.standard_normal((4, 64, 14, 14)).astype(np.float32))
    calls = []
    if mode == ms.PYNATIVE_MODE:  # graph mode parses the method (it could not parse this spy) instead of calling it
        original = BatchNorm2d.gate_product
        monkeypatch.setattr(BatchNorm2d, "gate_product", lambda self, *a: calls.append(1) or original(self, *a))
    plain, block = _block_grads(False, mode, x, weight)
    if not block.bn3.use_kernel:
        pytest.skip("our kernels cannot run here (no g++ / AVX2)")
    assert not calls
    fused, _ = _block_grads(True, mode, x, weight)
    assert calls or mode == ms.GRAPH_MODE
    for got, ref in zip(fused, plain):
        assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()
    other, _ = _block_grads(True, mode, ms.Tensor(x.asnumpy()[::-1].copy()), weight)
    assert max(np.abs(got - ref).max() / np.abs(ref).max() for got, ref in zip(other[2:], plain[2:])) > 1e-2
    assert not GatherExcite(64, 14, True, False, False).gate_after_bn
    assert not GatherExcite(64, 14, True, True, False).gate_after_bn
    if mode == ms.GRAPH_MODE:  # the compiled graph runs bn3's gate_op: one that cannot run makes the step fail
        from mindspore import ops
        from src.kernels import batchnorm, depthwise
        zeros = ops.ZerosLike()

        def bprop(y, gate, z, gamma, beta, mean, invstd, config, out, dout):
            return tuple(zeros(a) for a in (y, gate, z, gamma, beta, mean, invstd, config))

        missing = ops.Custom(f"{depthwise.library(batchnorm.SOURCE)}:NoSuchKernel", out_shape=lambda *a: a[0],
                             out_dtype=lambda *a: a[0], func_type="aot", bprop=bprop)
        monkeypatch.setattr(BatchNorm2d, "__init__", _with_gate_op(BatchNorm2d.__init__, missing))
        with pytest.raises(RuntimeError, match="NoSuchKernel"):
            _block_grads(True, mode, x, weight)
    if mode == ms.PYNATIVE_MODE:
        calls.clear()
        block.set_train(False)
        block(x)
        assert not calls


def test_calibrate_batchnorm_reaches_every_batchnorm():
    """deploy.calibrate_batchnorm on theta-minus (whose training path runs bn3 and the Gather-Excite product as
    our kernels' ops, not through bn3's call) sets every BatchNorm's moving statistics to its input's batch
    statistics: an eval-mode pass over the same images (which then normalises as the training pass did) finds each
    BatchNorm's input with those statistics. (The training pass' own moving update, 0.9 * default + 0.1 * batch,
    would be far off.)"""
    from src.deploy import calibrate_batchnorm
    ms.set_context(mode=ms.PYNATIVE_MODE)
    net = create_model("genet_res50_theta_minus", num_classes=10, image_size=64)
    images = ms.Tensor(np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32) + 0.5)
    calibrate_batchnorm(net, images)
    seen = {}

    def capture(name):
        def hook(cell, inputs):
            x = inputs[0].asnumpy().astype(np.float64)
            seen[name] = (x.mean((0, 2, 3)), x.var((0, 2, 3)))
        return hook

    bns = [(name, c) for name, c in net.cells_and_names() if isinstance(c, nn.BatchNorm2d)]
    handles = [c.register_forward_pre_hook(capture(name)) for name, c in bns]
    net.set_train(False)
    net(images).asnumpy()
    for handle in handles:
        handle.remove()
    assert len(bns) == 53 and len(seen) == 53
    for name, c in bns:
        mean, var = seen[name]
        assert np.abs(c.moving_mean.asnumpy() - mean).max() <= 1e-4 * np.sqrt(var.max()), name
        assert np.abs(c.moving_variance.asnumpy() - var).max() <= 1e-4 * var.max(), name
