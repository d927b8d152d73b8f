"""Our fused depthwise forward (conv + bias + ReLU / ReLU6 in one kernel, the inference graph after BatchNorm
folding) against MindSpore's standard conv, BiasAdd and activation and a float64 reference; its gradients; the
deliberate mistakes the comparison catches; the fusion pass on whole networks; exports unchanged."""
import mindspore as ms
import numpy as np
import onnx
import pytest
from mindspore import nn

from src.kernels import depthwise
from src.kernels.depthwise import DepthwiseConv2d

from .test_depthwise import pair, reference, rel_err

pytestmark = pytest.mark.skipif(depthwise.library() is None, reason="our kernels cannot run here (no g++ / AVX2)")

TOL = 2e-6  # float32 summation error relative to the output's scale, as in test_depthwise.py
ACTS = {"": None, "relu": nn.ReLU, "relu6": nn.ReLU6}
# channels, map (h, w), kernel, stride, batch: the networks' kinds of shapes (channels scaled down) and odd ones
SHAPES = [(4, (28, 28), 3, 1, 2), (3, (14, 14), 3, 2, 2), (5, (13, 13), 5, 1, 1), (6, (7, 7), 5, 2, 2),
          (2, (9, 12), 3, (1, 2), 1)]


def apply_act(y, act):
    if act == "relu":
        return np.maximum(y, 0)
    if act == "relu6":
        return np.clip(y, 0, 6)
    return y


def make_pair(channels, kernel, stride, act, seed=0):
    """(ours, standard): a depthwise conv with bias, ours with `act` fused (eval mode: the fused kernel runs),
    the standard nn.Conv2d followed by the same activation cell; the same random weight and bias."""
    kernel, stride = pair(kernel), pair(stride)
    args = dict(stride=stride, pad_mode="pad", padding=(kernel[0] // 2,) * 2 + (kernel[1] // 2,) * 2,
                group=channels, has_bias=True)
    ours = DepthwiseConv2d(channels, channels, kernel, **args)
    assert ours.use_kernel
    ours.select_all = True
    if act:
        assert ours.fuse_activation(ACTS[act]())
    conv = nn.Conv2d(channels, channels, kernel, **args)
    standard = nn.SequentialCell([conv, ACTS[act]()]) if act else conv
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal(conv.weight.shape).astype(np.float32)
    bias = (3 * rng.standard_normal(channels)).astype(np.float32)  # large enough for ReLU6 to clip both ends
    for cell in (ours, conv):
        cell.weight.set_data(ms.Tensor(weight))
        cell.bias.set_data(ms.Tensor(bias))
    ours.set_train(False)
    standard.set_train(False)
    return ours, standard, weight, bias


def expected(x, weight, bias, stride, kernel, act):
    pad = (pair(kernel)[0] // 2, pair(kernel)[1] // 2)
    y = reference(x, weight, pair(stride), pad, (1, 1))[0] + bias.astype(np.float64)[None, :, None, None]
    return apply_act(y, act)


def _informative(y, act):
    """The activation matters for these inputs: it clips a good share of the outputs (ReLU6 at both ends)."""
    if act:
        assert 0.1 < (y <= 0).mean() < 0.9
    if act == "relu6":
        assert (y >= 6).mean() > 0.01


@pytest.mark.parametrize("mode", [ms.PYNATIVE_MODE, ms.GRAPH_MODE])
@pytest.mark.parametrize("act", ["", "relu", "relu6"])
@pytest.mark.parametrize("channels,hw,kernel,stride,batch", SHAPES)
def test_fused_forward_matches_standard(channels, hw, kernel, stride, batch, act, mode):
    ms.set_context(mode=mode)
    ours, standard, weight, bias = make_pair(channels, kernel, stride, act)
    x = (2 * np.random.default_rng(sum(hw)).standard_normal((batch, channels) + hw)).astype(np.float32)
    ref = expected(x, weight, bias, stride, kernel, act)
    _informative(ref, act)
    got, std = ours(ms.Tensor(x)).asnumpy(), standard(ms.Tensor(x)).asnumpy()
    assert got.shape == ref.shape
    assert rel_err(got, ref) < TOL, rel_err(got, ref)
    assert rel_err(got, std.astype(np.float64)) < TOL


def test_deliberate_mistakes_fail_the_comparison():
    """The comparison above catches a dropped bias, each channel given its neighbour's bias, a missing ReLU6 and
    ReLU in place of ReLU6: each run through the fused kernel itself."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    x = (2 * np.random.default_rng(1).standard_normal((2, 4, 14, 14))).astype(np.float32)
    ours, _, weight, bias = make_pair(4, 3, 1, "relu6")
    ref = expected(x, weight, bias, 1, 3, "relu6")
    assert rel_err(ours(ms.Tensor(x)).asnumpy(), ref) < TOL
    mistakes = {"bias dropped": (np.zeros_like(bias), "relu6"), "neighbour's bias": (np.roll(bias, 1), "relu6"),
                "ReLU6 missing": (bias, ""), "ReLU for ReLU6": (bias, "relu")}
    for name, (wrong_bias, act) in mistakes.items():
        faulty, _, _, _ = make_pair(4, 3, 1, act)
        faulty.bias.set_data(ms.Tensor(wrong_bias))
        assert rel_err(faulty(ms.Tensor(x)).asnumpy(), ref) > 100 * TOL, name


def _grads(cell, x, g):
    def loss(inp):
        return (cell(inp) * g).sum()
    _, (dx, params) = ms.value_and_grad(loss, 0, cell.trainable_params())(x)
    return [dx.asnumpy()] + [p.asnumpy() for p in params]


@pytest.mark.parametrize("act", ["", "relu", "relu6"])
def test_fused_gradients_match_standard(act):
    """The fused op's bprop (activation mask, our two gradient kernels, the bias gradient) against the standard
    conv + BiasAdd + activation, eval mode, for input, weight and bias; a mask taken from the wrong side fails."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ours, standard, _, _ = make_pair(3, 3, 2, act, seed=4)
    rng = np.random.default_rng(6)
    x = ms.Tensor((2 * rng.standard_normal((2, 3, 11, 11))).astype(np.float32))
    g = ms.Tensor(rng.standard_normal((2, 3, 6, 6)).astype(np.float32))
    got, std = _grads(ours, x, g), _grads(standard, x, g)
    for name, a, b in zip(("dx", "dweight", "dbias"), got, std):
        assert a.shape == b.shape, name
        assert rel_err(a, b.astype(np.float64)) < 1e-5, (name, rel_err(a, b.astype(np.float64)))
    if act:  # the same gradients with the activation's mask inverted are far off
        flipped = _grads(standard, x, g * (ms.Tensor(standard(x).asnumpy() <= 0).astype(ms.float32) * 2 - 1))
        assert max(rel_err(a, b.astype(np.float64)) for a, b in zip(got, flipped)) > 1e-2


def _deployed(name, monkeypatch, **deploy):
    """`name` at 32x32 in deploy form twice, with the same weights: MindSpore's operators (GHOSTZOO_KERNELS=0)
    and ours forced onto every depthwise conv ("all"); with each deploy_form's counts (`deploy`: its options)."""
    from src.models import create_model, deploy_form
    nets = []
    for kernels in ("0", "all"):
        monkeypatch.setenv(depthwise.ENV_SWITCH, kernels)
        nets.append(create_model(name, num_classes=5, image_size=32))
    from src.deploy import calibrate_batchnorm
    rng = np.random.default_rng(0)
    mode = ms.get_context("mode")
    calibrate_batchnorm(nets[0], ms.Tensor(rng.standard_normal((8, 3, 32, 32)).astype(np.float32)))  # O(1) maps
    ms.set_context(mode=mode)
    for pname, param in nets[0].parameters_and_names():  # betas away from zero: the folded biases matter
        if pname.endswith("beta"):
            param.set_data(ms.Tensor((0.5 * rng.standard_normal(param.shape)).astype(np.float32)))
    ms.load_param_into_net(nets[1], {p.name: ms.Parameter(p.data.copy(), p.name) for p in nets[0].get_parameters()})
    deployed = []
    for kernels, net in zip(("0", "all"), nets):  # re-parameterisation builds new convs: under the same switch
        monkeypatch.setenv(depthwise.ENV_SWITCH, kernels)
        deployed.append((net, deploy_form(net, **deploy)))
    return deployed


@pytest.mark.parametrize("name,fusible,joins", [("ghostnet_050", 33, 32), ("mobilenet_v1_025", 27, 0),
                                                 ("repghostnet_050", 33, 0), ("ghostnetv3_050", 33, 32)])
def test_network_fuses_and_keeps_its_logits(name, fusible, joins, monkeypatch):
    """Deployed with our kernels, every ReLU after a conv is fused (the stem's; the primary and the cheap conv of
    each bottleneck's first Ghost module; the two convs of each MobileNetV1 block), every Ghost module's join
    (GhostNet's and GhostNetV3's: two per bottleneck) is one kernel, and the logits are those of the deployed
    network with MindSpore's operators (graph mode); with the kernels off nothing is fused."""
    ms.set_context(mode=ms.GRAPH_MODE)
    (off, done_off), (on, done_on) = _deployed(name, monkeypatch)
    assert done_off["act_fused"] == 0 and done_on["act_fused"] == fusible
    assert done_off["joins_fused"] == 0 and done_on["joins_fused"] == joins

    def acts(net):  # the activation cells the network's own cells apply (not those the convs took over)
        return sum(isinstance(c, tuple(depthwise.ACT_CELLS)) and not n.endswith("post_act")
                   for n, c in net.cells_and_names())
    assert acts(on) == acts(off) - fusible  # each fused activation left its cell: it does not run twice
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    nudged = ms.Tensor(x * (1 + 1e-6 * rng.standard_normal(x.shape)).astype(np.float32))
    x = ms.Tensor(x)
    ref, got = off(x).asnumpy().astype(np.float64), on(x).asnumpy()
    # float32 rounding through the depth: within 10x what a 1e-6 relative change of the input moves the logits
    jitter = rel_err(off(nudged).asnumpy(), ref)
    assert rel_err(got, ref) <= max(1e-5, 10 * jitter), (rel_err(got, ref), jitter)
    other = off(ms.Tensor(np.flip(x.asnumpy(), 3).copy())).asnumpy()
    assert rel_err(other, ref) > 1e-3  # the logits depend on the input


@pytest.mark.parametrize("name", ["ghostnet_050", "mobilenet_v1_025"])
def test_an_unfolded_batchnorm_keeps_its_activation_after_it(name, monkeypatch):
    """deploy_form(fold_bn=False): a conv whose BatchNorm still follows it does not take the activation after the
    BatchNorm (act(bn(conv)) is not bn(act(conv))), and the logits are those of MindSpore's operators."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    (off, _), (on, done) = _deployed(name, monkeypatch, fold_bn=False)
    assert done["bn_folded"] == 0 and done["act_fused"] == 0
    x = ms.Tensor(np.random.default_rng(2).standard_normal((2, 3, 32, 32)).astype(np.float32))
    ref = off(x).asnumpy()
    assert rel_err(on(x).asnumpy(), ref) < 1e-5


def test_a_module_left_undeployed_keeps_its_activation_after_the_sum(monkeypatch):
    """deploy_form(reparameterize=False): RepGhost's ReLU follows the sum of its conv + BN and the fusion BN, not the
    conv (the pair it declares holds only deployed), and the logits are those of MindSpore's operators. (A pass
    that took that ReLU into the conv gave logits 3.9 relative off here, 20x off in an ONNX export.)"""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    (off, _), (on, done) = _deployed("repghostnet_050", monkeypatch, reparameterize=False)
    assert done["reparameterized"] == 0 and done["joins_fused"] == 0
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    nudged = ms.Tensor(x * (1 + 1e-6 * rng.standard_normal(x.shape)).astype(np.float32))
    ref = off(ms.Tensor(x)).asnumpy().astype(np.float64)
    jitter = rel_err(off(nudged).asnumpy(), ref)  # float32 rounding through the depth, as in the test above
    assert rel_err(on(ms.Tensor(x)).asnumpy(), ref) <= max(1e-5, 10 * jitter), (rel_err(on(ms.Tensor(x)).asnumpy(),
                                                                                         ref), jitter)


def test_export_of_a_fused_network_is_unchanged(tmp_path, monkeypatch):
    """ONNX export of a deployed network whose ReLUs were fused (compiled and run first) writes the same nodes
    as the network deployed with the kernels off: MindSpore's Conv, Add and Relu."""
    from src.deploy.export import export_model
    ms.set_context(mode=ms.GRAPH_MODE)
    nodes = []
    for kernels, (net, done) in zip(("0", "all"), _deployed("ghostnet_050", monkeypatch)):
        net(ms.Tensor(np.ones((1, 3, 32, 32), np.float32)))
        path = export_model(net, str(tmp_path / kernels), "ONNX", batch_size=1, image_size=32)
        graph = onnx.load(path).graph
        nodes.append([(node.op_type, list(node.input), list(node.output)) for node in graph.node])
    assert done["act_fused"] > 0 and done["joins_fused"] > 0
    types = [n[0] for n in nodes[0]]
    assert [n[0] for n in nodes[1]] == types and "Relu" in types and "Concat" in types


@pytest.mark.parametrize("act", ["", "relu", "relu6"])
def test_bias_act_kernel_matches_and_catches_mistakes(act):
    """The one-pass bias (+ ReLU / ReLU6) kernel of the pointwise convs against NumPy on a map whose size is no
    multiple of 8; the same check fails with each channel given its neighbour's bias, and with the activation
    left out."""
    from src.kernels.pointwise import bias_op
    ms.set_context(mode=ms.PYNATIVE_MODE)
    rng = np.random.default_rng(7)
    x = (4 * rng.standard_normal((2, 5, 7, 9))).astype(np.float32)
    bias = (3 * rng.standard_normal(5)).astype(np.float32)
    ref = apply_act(x.astype(np.float64) + bias[None, :, None, None], act)
    _informative(ref, act)
    threads = ms.Tensor([2], ms.int32)
    assert rel_err(bias_op(depthwise.library(), act)(ms.Tensor(x), ms.Tensor(bias), threads).asnumpy(), ref) < TOL
    wrong = bias_op(depthwise.library(), act)(ms.Tensor(x), ms.Tensor(np.roll(bias, 1)), threads).asnumpy()
    assert rel_err(wrong, ref) > 100 * TOL
    if act:
        no_act = bias_op(depthwise.library(), "")(ms.Tensor(x), ms.Tensor(bias), threads).asnumpy()
        assert rel_err(no_act, ref) > 100 * TOL


@pytest.mark.parametrize("act", ["", "relu6"])
def test_pointwise_conv_fused_forward_and_gradients(act):
    """pointwise.Conv2d (bias folded in, activation taken over, eval mode: MindSpore's conv, then our kernel)
    against nn.Conv2d + the activation: output and the gradients of input, weight and bias."""
    from src.kernels.pointwise import Conv2d
    ms.set_context(mode=ms.PYNATIVE_MODE)
    rng = np.random.default_rng(8)
    ours, conv = Conv2d(6, 5, 1, has_bias=True), nn.Conv2d(6, 5, 1, has_bias=True)
    assert ours.use_kernel and (not act or ours.fuse_activation(ACTS[act]()))
    for name in ("weight", "bias"):
        value = ms.Tensor((3 * rng.standard_normal(getattr(conv, name).shape)).astype(np.float32))
        getattr(ours, name).set_data(value)
        getattr(conv, name).set_data(value)
    standard = nn.SequentialCell([conv, ACTS[act]()]) if act else conv
    for cell in (ours, standard):
        cell.set_train(False)
    x = ms.Tensor(rng.standard_normal((2, 6, 9, 9)).astype(np.float32))
    ref = standard(x).asnumpy().astype(np.float64)
    _informative(ref, act)
    assert rel_err(ours(x).asnumpy(), ref) < TOL
    g = ms.Tensor(rng.standard_normal((2, 5, 9, 9)).astype(np.float32))
    for name, a, b in zip(("dx", "dweight", "dbias"), _grads(ours, x, g), _grads(standard, x, g)):
        assert rel_err(a, b.astype(np.float64)) < 1e-5, name


def test_gate_product_matches_tile_mul_and_catches_mistakes():
    """GateProduct (the squeeze-excite x * gate; eval mode: our kernel) against x * tiled gate in float64, and
    its gradients against the standard product's; the check fails with the gate of the neighbouring channel or
    of the other sample."""
    from mindspore import ops
    from src.kernels.pointwise import GateProduct
    ms.set_context(mode=ms.PYNATIVE_MODE)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 6, 7, 5)).astype(np.float32)
    gate = rng.uniform(0, 1, (2, 6, 1, 1)).astype(np.float32)
    product = GateProduct()
    assert product.use_kernel
    product.set_train(False)
    ref = x.astype(np.float64) * gate
    assert rel_err(product(ms.Tensor(x), ms.Tensor(gate)).asnumpy(), ref) < TOL
    for wrong in (np.roll(gate, 1, axis=1), gate[::-1].copy()):
        assert rel_err(product(ms.Tensor(x), ms.Tensor(wrong)).asnumpy(), ref) > 100 * TOL
    g = ms.Tensor(rng.standard_normal(x.shape).astype(np.float32))

    def grads(fn):
        return ms.grad(lambda a, b: (fn(a, b) * g).sum(), (0, 1))(ms.Tensor(x), ms.Tensor(gate))
    ours = grads(product)
    standard = grads(lambda a, b: a * ops.tile(b, (1, 1) + a.shape[2:]))
    for name, a, b in zip(("dx", "dgate"), ours, standard):
        assert a.shape == b.shape and rel_err(a.asnumpy(), b.asnumpy().astype(np.float64)) < 1e-5, name


class _GateGrads(nn.Cell):
    """The gradients of sum(product(x, gate) * g) to x and the gate, compiled in the context's mode."""

    def __init__(self, product):
        super().__init__()
        self.product = product

    def construct(self, x, gate, g):
        return ms.grad(lambda a, b: (self.product(a, b) * g).sum(), (0, 1))(x, gate)


@pytest.mark.parametrize("mode", [ms.PYNATIVE_MODE, ms.GRAPH_MODE])
def test_gate_product_trains_with_our_kernels(mode, monkeypatch):
    """In a training graph GateProduct runs our kernels forward and backward (ChannelScale for dx, ChannelDot for
    the gate): dx = dout * gate and dgate = sum over the map of dout * x against float64; the comparison fails
    for the neighbouring channel's gate or a gate gradient summed against the other sample's x. The bprop's
    ChannelDot is also checked on its own."""
    from src.kernels.pointwise import GateProduct
    ms.set_context(mode=mode)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 5, 9, 7)).astype(np.float32) + 0.5
    gate = rng.uniform(0, 1, (3, 5, 1, 1)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    product = GateProduct()
    assert product.use_kernel
    product.set_train(True)
    assert rel_err(product(ms.Tensor(x), ms.Tensor(gate)).asnumpy(), x.astype(np.float64) * gate) < TOL
    dx, dgate = _GateGrads(product)(ms.Tensor(x), ms.Tensor(gate), ms.Tensor(g))
    ref_dx = g.astype(np.float64) * gate
    ref_dgate = (g.astype(np.float64) * x).sum(axis=(2, 3), keepdims=True)
    assert dx.shape == x.shape and dgate.shape == gate.shape
    assert rel_err(dx.asnumpy(), ref_dx) < TOL and rel_err(dgate.asnumpy(), ref_dgate) < 1e-6
    assert rel_err(dx.asnumpy(), g.astype(np.float64) * np.roll(gate, 1, axis=1)) > 100 * TOL
    assert rel_err(dgate.asnumpy(), (g.astype(np.float64) * x[::-1]).sum(axis=(2, 3), keepdims=True)) > 1e-3
    # with the kernels off the same cell is the standard Tile + Mul: the same numbers by another route
    product.use_kernel = False
    dx_std, dgate_std = _GateGrads(product)(ms.Tensor(x), ms.Tensor(gate), ms.Tensor(g))
    assert rel_err(dgate_std.asnumpy(), ref_dgate) < 1e-5 and rel_err(dx_std.asnumpy(), ref_dx) < TOL
    dot = ms.ops.Custom(f"{depthwise.library()}:ChannelDot", out_shape=lambda dy, a, t: list(a[:2]) + [1, 1],
                        out_dtype=lambda dy, a, t: a, func_type="aot")
    direct = dot(ms.Tensor(g), ms.Tensor(x), ms.Tensor([2], ms.int32)).asnumpy()
    assert rel_err(direct, ref_dgate) < 1e-6


def _upsample_reference(x, gate, rows, cols):
    return x.astype(np.float64) * gate.astype(np.float64)[:, :, rows][:, :, :, cols]


@pytest.mark.parametrize("hw, small", [((8, 6), (4, 3)), ((7, 7), (3, 3)), ((1, 5), (1, 2)), ((4, 4), (4, 4))])
@pytest.mark.parametrize("mode", [ms.PYNATIVE_MODE, ms.GRAPH_MODE])
def test_upsampled_gate_product_and_its_gradients(hw, small, mode):
    """UpsampleScale (GhostNetV2's x * nearest-upsampled gate, one pass) and its bprop (the same kernel for dx,
    UpsampleScaleGrad for the gate) against float64: odd maps (7 from 3), a side not pooled, no upsampling at
    all. The comparison fails for a gate row shifted by one, and for a gate gradient summed over the wrong cells."""
    from src.kernels.pointwise import upsample_gate_op
    from src.models.ghost import nearest_indices
    ms.set_context(mode=mode)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3) + hw).astype(np.float32) + 0.5
    gate = rng.uniform(0, 1, (2, 3) + small).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    rows, cols = nearest_indices(small[0], hw[0]), nearest_indices(small[1], hw[1])
    r, c = rows.asnumpy(), cols.asnumpy()
    op, threads = upsample_gate_op(depthwise.library()), ms.Tensor([2], ms.int32)

    class Grads(nn.Cell):
        def construct(self, a, b, dy):
            return ms.grad(lambda u, v: (op(u, v, rows, cols, threads) * dy).sum(), (0, 1))(a, b)

    y = op(ms.Tensor(x), ms.Tensor(gate), rows, cols, threads).asnumpy()
    assert rel_err(y, _upsample_reference(x, gate, r, c)) < TOL
    if small[0] > 1:
        assert rel_err(y, _upsample_reference(x, gate, np.minimum(r + 1, small[0] - 1), c)) > 100 * TOL
    dx, dgate = Grads()(ms.Tensor(x), ms.Tensor(gate), ms.Tensor(g))
    assert rel_err(dx.asnumpy(), _upsample_reference(g, gate, r, c)) < TOL
    ref = np.zeros(gate.shape)
    np.add.at(ref, (slice(None), slice(None), r[:, None], c[None, :]), g.astype(np.float64) * x)
    assert dgate.shape == gate.shape and rel_err(dgate.asnumpy(), ref) < 1e-6
    wrong = np.zeros(gate.shape)
    np.add.at(wrong, (slice(None), slice(None), r[:, None], c[None, :]), g.astype(np.float64) * x[:, ::-1])
    assert rel_err(dgate.asnumpy(), wrong) > 1e-3


def test_upsampled_gate_product_refuses_indices_outside_the_gate():
    """A row index past the gate's height is refused by the kernel, not read out of bounds."""
    from src.kernels.pointwise import upsample_gate_op
    ms.set_context(mode=ms.PYNATIVE_MODE)
    op = upsample_gate_op(depthwise.library())
    x, gate = ms.Tensor(np.ones((1, 2, 4, 4), np.float32)), ms.Tensor(np.ones((1, 2, 2, 2), np.float32))
    rows, cols = ms.Tensor([0, 0, 1, 2], ms.int32), ms.Tensor([0, 0, 1, 1], ms.int32)
    with pytest.raises(RuntimeError, match="function\\(UpsampleScale\\) is 3"):
        op(x, gate, rows, cols, ms.Tensor([1], ms.int32)).asnumpy()


def test_exports_write_the_products_in_the_form_onnxruntime_runs_fast(tmp_path, monkeypatch):
    """The ONNX file of ghostnetv2_100 (squeeze-excite and DFC attention) holds no Tile: the squeeze-excite product
    is a broadcast Mul. With a fixed batch the DFC gates are upsampled by Resize; with a dynamic batch (MindSpore's
    Resize export would fix it) by Gathers. The same nodes with the kernels on and off. (Parity with the network:
    tests/deploy/test_export.py.)"""
    from src.deploy.export import export_model
    from src.models import create_model
    ms.set_context(mode=ms.GRAPH_MODE)
    types = {}
    for kernels in ("0", "1"):
        monkeypatch.setenv(depthwise.ENV_SWITCH, kernels)
        net = create_model("ghostnetv2_100", num_classes=4)
        net.set_train(False)
        for batch in (1, 0):
            path = export_model(net, str(tmp_path / f"{kernels}_{batch}"), "ONNX", batch_size=batch, image_size=32)
            types[kernels, batch] = [node.op_type for node in onnx.load(path).graph.node]
        assert not any(getattr(cell, "exporting", "") for _, cell in net.cells_and_names())  # restored
    assert types["0", 1] == types["1", 1] and types["0", 0] == types["1", 0]
    assert "Tile" not in types["1", 1] and "Tile" not in types["1", 0]
    assert "Resize" in types["1", 1] and "Gather" not in types["1", 1]
    assert "Gather" in types["1", 0] and "Resize" not in types["1", 0]


# --- the Ghost module join: concat((x, act(conv(x) + bias))) in one kernel ---------------------------------------
JOIN_SHAPES = [(4, (28, 28), 3, 2), (5, (13, 13), 5, 1), (1, (7, 9), 3, 1), (3, (5, 6), 3, 2)]


@pytest.mark.parametrize("act", ["", "relu", "relu6"])
@pytest.mark.parametrize("channels,hw,kernel,batch", JOIN_SHAPES)
def test_joined_kernel_is_the_concat_of_input_and_fused_conv(channels, hw, kernel, batch, act):
    """`join(x)`: the input copied bit for bit into the first half of the channels, the fused conv's output in the
    second (within float32 summation error of float64, and bit for bit what the fused kernel alone gives); the
    same comparison catches the halves swapped and each channel given its neighbour's bias."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ours, _, weight, bias = make_pair(channels, kernel, 1, act, seed=channels)
    x = (2 * np.random.default_rng(sum(hw)).standard_normal((batch, channels) + hw)).astype(np.float32)
    assert ours.joins(ms.Tensor(x))
    got = ours.join(ms.Tensor(x)).asnumpy()
    assert got.shape == (batch, 2 * channels) + hw
    ref = expected(x, weight, bias, 1, kernel, act)
    _informative(ref, act)
    assert np.array_equal(got[:, :channels], x)
    assert rel_err(got[:, channels:], ref) < TOL, rel_err(got[:, channels:], ref)
    assert np.array_equal(got, np.concatenate([x, ours(ms.Tensor(x)).asnumpy()], 1))
    assert rel_err(got, np.concatenate([ref, x], 1)) > 100 * TOL  # halves swapped
    wrong = expected(x, weight, np.roll(bias, 1), 1, kernel, act)
    assert channels == 1 or rel_err(got[:, channels:], wrong) > 100 * TOL


def test_join_only_where_the_kernel_keeps_the_map_and_runs():
    """`joins` is False for a stride-2 conv, a conv without bias, a training graph, inside `standard_ops` (exports),
    and a conv padded less than "same"; a join op given a geometry that shrinks the map is refused by the kernel,
    not written past."""
    from src.kernels.depthwise import geometry_tensor, standard_ops
    ms.set_context(mode=ms.PYNATIVE_MODE)
    x = ms.Tensor(np.ones((1, 4, 8, 8), np.float32))
    ours, _, _, _ = make_pair(4, 3, 1, "relu")
    assert ours.joins(x)
    assert not make_pair(4, 3, 2, "relu")[0].joins(x)
    valid = DepthwiseConv2d(4, 4, 3, pad_mode="valid", group=4, has_bias=True)
    no_bias = DepthwiseConv2d(4, 4, 3, pad_mode="pad", padding=1, group=4)
    for conv in (valid, no_bias):
        conv.select_all = True
        conv.set_train(False)
        assert conv.use_kernel and not conv.joins(x)
    ours.set_train(True)
    assert not ours.joins(x)
    ours.set_train(False)
    with standard_ops(ours):
        assert not ours.joins(x)
    assert ours.joins(x)
    with pytest.raises(RuntimeError, match="DepthwiseJoinBias"):
        ours.join_op(x, ours.weight, geometry_tensor((1, 1), (0, 0), (1, 1)), ours.bias).asnumpy()


class _Concat(nn.Cell):
    def __init__(self, conv):
        super().__init__()
        self.conv, self.concat = conv, ms.ops.Concat(axis=1)

    def construct(self, x):
        return self.concat((x, self.conv(x)))


class _Joined(nn.Cell):
    def __init__(self, conv):
        super().__init__()
        self.conv = conv

    def construct(self, x):
        return self.conv.join(x)


@pytest.mark.parametrize("act", ["", "relu", "relu6"])
def test_joined_gradients_match_standard(act):
    """The join's bprop (the copy's gradient added to the conv's input gradient, the activation mask on the conv's
    half, the bias gradient from that half only) against MindSpore's conv + BiasAdd + activation and Concat."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ours, standard, _, _ = make_pair(3, 3, 1, act, seed=4)
    rng = np.random.default_rng(6)
    x = ms.Tensor((2 * rng.standard_normal((2, 3, 9, 9))).astype(np.float32))
    g = ms.Tensor(rng.standard_normal((2, 6, 9, 9)).astype(np.float32))
    got, std = _grads(_Joined(ours), x, g), _grads(_Concat(standard), x, g)
    for name, a, b in zip(("dx", "dweight", "dbias"), got, std):
        assert a.shape == b.shape, name
        assert rel_err(a, b.astype(np.float64)) < 1e-5, (name, rel_err(a, b.astype(np.float64)))
    # what the comparison catches: the copy's gradient left out of dx
    without_copy = _grads(standard, x, g[:, 3:])[0]
    assert rel_err(without_copy, std[0].astype(np.float64)) > 1e-2


def _ghost_modules(kind, count=3):
    from src.models.ghost import GhostModule
    from src.models.ghostnetv3 import GhostModuleV3
    if kind == "v3":
        return [GhostModuleV3(6, 8, act="relu") for _ in range(count)]
    return [GhostModule(6, 8, act="relu" if kind == "relu" else None, attention=kind == "attention")
            for _ in range(count)]


@pytest.mark.parametrize("kind", ["relu", "linear", "attention", "v3"])
def test_ghost_module_joined_equals_its_concat(kind, monkeypatch):
    """A deployed Ghost module (GhostNet's with and without its ReLU, GhostNetV2's with DFC attention, GhostNetV3's
    re-parameterised) gives, with the join fused (graph mode), bit for bit the output of the same module with the
    same weights left to concatenate; the output depends on the input. That the graph runs the join: a third copy
    whose join kernel applies the other activation gives another output."""
    from src.deploy import calibrate_batchnorm
    from src.models import deploy_form
    monkeypatch.setenv(depthwise.ENV_SWITCH, "all")  # our kernels on this small map too
    ms.set_context(mode=ms.GRAPH_MODE)
    joined, concat, probe = _ghost_modules(kind)
    rng = np.random.default_rng(3)
    calibrate_batchnorm(joined, ms.Tensor(rng.standard_normal((4, 6, 12, 12)).astype(np.float32)))
    ms.set_context(mode=ms.GRAPH_MODE)
    for name, param in joined.parameters_and_names():
        if name.endswith("beta"):
            param.set_data(ms.Tensor((0.5 * rng.standard_normal(param.shape)).astype(np.float32)))
    for other in (concat, probe):
        ms.load_param_into_net(other, {p.name: ms.Parameter(p.data.copy(), p.name) for p in joined.get_parameters()})
    done = deploy_form(joined)
    for other in (concat, probe):
        deploy_form(other)
    assert done["joins_fused"] == 1 and joined.fused_join
    concat.fused_join = False
    cheap = probe.cheap_operation[0]
    cheap.join_op = cheap.kernel_op.joined["" if cheap.act_kind else "relu"]
    x = ms.Tensor(rng.standard_normal((2, 6, 12, 12)).astype(np.float32))
    got, ref = joined(x).asnumpy(), concat(x).asnumpy()
    assert got.shape == (2, 8, 12, 12)
    assert np.array_equal(got, ref)
    assert rel_err(joined(ms.Tensor(x.asnumpy()[:, ::-1].copy())).asnumpy(), ref) > 1e-2
    assert rel_err(probe(x).asnumpy(), ref) > 1e-2


def test_joins_fused_only_where_the_module_allows():
    """Modules whose widths need the slice (odd out_channels), modules whose cheap conv runs MindSpore's operator
    (kernels off) and modules not folded (fold_bn=False: the cheap conv has no bias) keep the concat."""
    from src.models import deploy_form
    from src.models.ghost import GhostModule
    ms.set_context(mode=ms.PYNATIVE_MODE)
    assert deploy_form(GhostModule(6, 7))["joins_fused"] == 0
    assert deploy_form(GhostModule(6, 8), fold_bn=False)["joins_fused"] == 0
    assert deploy_form(GhostModule(6, 8))["joins_fused"] == 1
