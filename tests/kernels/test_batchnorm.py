"""Our training BatchNorm kernels (src/kernels/batchnorm.*) against a float64 NumPy reference and nn.BatchNorm2d:
output, batch statistics, the gradients to x, gamma and beta, the moving statistics after several steps (graph mode
and PyNative), the paths that keep MindSpore's operator, and one training step of a whole network."""
import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

from src.kernels import batchnorm, depthwise
from src.kernels.batchnorm import BatchNorm2d
from src.models.layers import ReLU6, norm_act

from .test_depthwise import rel_err

pytestmark = pytest.mark.skipif(depthwise.library(batchnorm.SOURCE) is None,
                                reason="our kernels cannot run here (no g++ / AVX2)")

MOMENTUM, EPS = 0.9, 1e-5


def reference(x, gamma, beta, g, ddof=1):
    """Training BatchNorm in float64: y, batch mean, batch variance for the moving statistic (unbiased: ddof=1, as
    MindSpore's CPU BatchNorm; ddof=0 is the deliberate mistake), and (dx, dgamma, dbeta) for L = sum(y * g)."""
    x, g = x.astype(np.float64), g.astype(np.float64)
    gamma, beta = gamma.astype(np.float64)[None, :, None, None], beta.astype(np.float64)[None, :, None, None]
    axes = (0, 2, 3)
    count = x.size // x.shape[1]
    mean, var = x.mean(axes, keepdims=True), x.var(axes, keepdims=True)
    invstd = 1 / np.sqrt(var + EPS)
    xhat = (x - mean) * invstd
    dbeta, dgamma = g.sum(axes, keepdims=True), (g * xhat).sum(axes, keepdims=True)
    dx = gamma * invstd / count * (count * g - dbeta - xhat * dgamma)
    moving_var = x.var(axes, ddof=ddof)
    return gamma * xhat + beta, mean.ravel(), moving_var, (dx, dgamma.ravel(), dbeta.ravel())


ACTS = {"relu": nn.ReLU, "relu6": ReLU6}  # the activation cells the networks put after a BatchNorm


def act_mask(y, act):
    """Where the activation `act` after a BatchNorm passes the gradient, given its input y (ReLU6: zero at 6, as
    layers.ReLU6)."""
    if act == "relu":
        return y > 0
    if act == "relu6":
        return (y > 0) & (y < 6)
    return np.ones_like(y, bool)


class _Loss(nn.Cell):
    """sum(bn(x) * g): its gradient to bn's output is g; `act` "relu" / "relu6": sum(act(bn(x)) * g), as
    `layers.norm_act` runs it (ours: `bn(x, act)`)."""

    def __init__(self, bn, act=""):
        super().__init__()
        self.bn = bn
        self.act = ACTS[act]() if act else None

    def construct(self, x, g):
        if self.act is None:
            return (self.bn(x) * g).sum()
        return (norm_act(self.bn, self.act, x) * g).sum()


def make_pair(channels, wide=False, **kwargs):
    """Ours (forced onto every shape) and nn.Batchnorm2d with the same random gamma and beta (`wide`: gamma 2-8 and
    beta 1-2.5, so that a ReLU6 after it clips at both ends)."""
    rng = np.random.default_rng(channels)
    ours = BatchNorm2d(channels, momentum=MOMENTUM, eps=EPS, **kwargs)
    assert ours.use_kernel
    ours.select_all = True
    standard = nn.BatchNorm2d(channels, momentum=MOMENTUM, eps=EPS, **kwargs)
    for name in ("gamma", "beta"):
        value = rng.uniform(0.5, 2, channels) * (1 if name == "gamma" else -1)
        if wide:
            value = value * 4 if name == "gamma" else value + 3
        value = ms.Tensor(value.astype(np.float32))
        getattr(ours, name).set_data(value)
        getattr(standard, name).set_data(value.copy())
    return ours, standard


def data(shape, seed):
    """Inputs with a non-zero mean and a non-unit variance per channel, so that a wrong statistic shows."""
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = rng.standard_normal(shape) * rng.uniform(0.5, 3, (1, c, 1, 1)) + rng.uniform(-4, 4, (1, c, 1, 1))
    return x.astype(np.float32), rng.standard_normal(shape).astype(np.float32)


def steps(bn, shape, count=3, act=""):
    """`count` training steps (value_and_grad of sum(bn(x) * g), `act`: of sum(act(bn(x)) * g)): per step the
    loss' inputs and (dx, dgamma, dbeta, moving mean, moving variance)."""
    loss = _Loss(bn, act)
    loss.set_train(True)
    grad_fn = ms.value_and_grad(loss, grad_position=0, weights=[bn.gamma, bn.beta])
    if ms.get_context("mode") == ms.GRAPH_MODE:
        grad_fn = ms.jit(grad_fn)
    out = []
    for i in range(count):
        x, g = data(shape, seed=i)
        y = bn.gamma.asnumpy(), bn.beta.asnumpy()  # before the step: gamma and beta do not change here
        _, (dx, (dgamma, dbeta)) = grad_fn(ms.Tensor(x), ms.Tensor(g))
        out.append(((x, g) + y, [dx.asnumpy(), dgamma.asnumpy(), dbeta.asnumpy(), bn.moving_mean.asnumpy().copy(),
                                 bn.moving_variance.asnumpy().copy()]))
    return out


SHAPES = [
    (4, 6, 9, 7),    # odd map
    (2, 1, 5, 5),    # one channel
    (1, 3, 7, 5),    # batch 1, map > 1
    (8, 5, 1, 1),    # 1x1 map, batch > 1
    (3, 16, 14, 14),
    (2, 7, 3, 13),   # a map shorter than one AVX2 vector per row, rectangular
]


@pytest.mark.parametrize("act", ["", "relu", "relu6"])
@pytest.mark.parametrize("mode", [ms.PYNATIVE_MODE, ms.GRAPH_MODE])
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_gradients_and_moving_stats_match_reference_and_standard(shape, mode, act):
    """Ours against float64 and nn.BatchNorm2d over 3 steps; `act`: a ReLU or ReLU6 after it (ours in the same
    kernels, the reference's gradient masked where the normalised input is outside the activation's passing
    range; for ReLU6 gamma and beta such that it clips at both ends)."""
    ms.set_context(mode=mode)
    ours, standard = make_pair(shape[1], wide=act == "relu6")
    got, want = steps(ours, shape, act=act), steps(standard, shape, act=act)
    previous = {"ours": [np.zeros(shape[1]), np.ones(shape[1])], "standard": [np.zeros(shape[1]), np.ones(shape[1])]}
    for ((x, g, gamma, beta), ours_out), (_, standard_out) in zip(got, want):
        y = reference(x, gamma, beta, g)[0]
        if act == "relu6" and y.size > 100:
            assert (y >= 6).mean() > 0.02 and (y <= 0).mean() > 0.02  # both ends clip: the mask matters
        _, mean, var, (dx, dgamma, dbeta) = reference(x, gamma, beta, g * act_mask(y, act))
        # each step's batch term of the moving statistics: (moving - momentum * previous moving) / (1 - momentum)
        for side, out in (("ours", ours_out), ("standard", standard_out)):
            moving = out[3:]
            out[3:] = [(m - MOMENTUM * p) / (1 - MOMENTUM) for m, p in zip(moving, previous[side])]
            previous[side] = moving
        for name, a, s, ref in zip(("dx", "dgamma", "dbeta", "batch mean term", "batch variance term"), ours_out,
                                   standard_out, (dx, dgamma, dbeta, mean, var)):
            # ours is at least as close to float64 as MindSpore's own operator, and close to it
            assert rel_err(a, ref) <= max(2e-6, 2 * rel_err(s, ref)), (name, rel_err(a, ref), rel_err(s, ref))
            assert rel_err(a, s) <= 1e-5, (name, rel_err(a, s))


@pytest.mark.parametrize("shape", SHAPES)
def test_kernel_outputs_match_reference(shape):
    """The forward ops' own outputs: the batch mean, the inverse std, the updated moving statistics (stats_op), y,
    max(0, y) and min(max(0, y), 6) (apply_op)."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ours, _ = make_pair(shape[1])
    x, g = data(shape, seed=5)
    gamma, beta = ours.gamma.asnumpy(), ours.beta.asnumpy()
    stats = ours.stats_op(ms.Tensor(x), ours.moving_mean, ours.moving_variance, ours.config)
    mean, invstd, new_mean, new_var = (t.asnumpy() for t in stats)
    y, y_relu, y_relu6 = (op(ms.Tensor(x), ours.gamma, ours.beta, stats[0], stats[1], ours.config).asnumpy()
                          for op in (ours.apply_op, ours.apply_relu_op, ours.apply_relu6_op))
    ref_y, ref_mean, ref_var, _ = reference(x, gamma, beta, g)
    ref_invstd = 1 / np.sqrt(x.astype(np.float64).var((0, 2, 3)) + EPS)
    assert rel_err(y, ref_y) <= 2e-6 and rel_err(y_relu, np.maximum(ref_y, 0)) <= 2e-6
    assert rel_err(y_relu6, np.clip(ref_y, 0, 6)) <= 2e-6
    assert (y_relu == np.maximum(y, 0)).all() and (y < 0).any()
    assert (y_relu6 == np.clip(y, 0, 6)).all()
    assert rel_err(mean, ref_mean) <= 2e-6 and rel_err(invstd, ref_invstd) <= 2e-6
    assert rel_err(new_mean, (1 - MOMENTUM) * ref_mean) <= 2e-6
    assert rel_err(new_var, MOMENTUM + (1 - MOMENTUM) * ref_var) <= 2e-6


def test_deliberate_mistakes_are_caught():
    """The comparisons above fail for a biased moving variance, gamma of the neighbouring channel, a dx without the
    mean-gradient term, after a ReLU a dx without its mask or with the input's mask, and after a ReLU6 a dx with a
    ReLU's mask: each is far outside the tolerance."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    shape = (4, 6, 9, 7)
    ours, _ = make_pair(shape[1])
    ((x, g, gamma, beta), (dx, dgamma, dbeta, moving_mean, moving_var)), = steps(ours, shape, count=1)
    ref_y, mean, var, (ref_dx, ref_dgamma, _) = reference(x, gamma, beta, g)
    term = (moving_var - MOMENTUM) / (1 - MOMENTUM)  # the batch's share of the moving variance
    assert rel_err(term, var) <= 1e-5
    biased = reference(x, gamma, beta, g, ddof=0)[2]
    assert rel_err(term, biased) > 1e-3  # 1 / (N*H*W - 1) = 4e-3 here
    rolled = reference(x, np.roll(gamma, 1), beta, g)[3][0]
    assert rel_err(dx, rolled) > 1e-2
    count = x.size // x.shape[1]
    no_mean_term = ref_dx + gamma[None, :, None, None] / np.sqrt(var * (count - 1) / count + EPS)[
        None, :, None, None] * g.sum((0, 2, 3), keepdims=True) / count
    assert rel_err(dx, no_mean_term) > 1e-3
    # with the ReLU: the gradient must take its mask, and the mask is that of the normalised map (not of x)
    ((x, g, gamma, beta), (dx, *_)), = steps(make_pair(shape[1])[0], shape, count=1, act="relu")
    y = reference(x, gamma, beta, g)[0]
    assert rel_err(dx, reference(x, gamma, beta, g * (y > 0))[3][0]) <= 1e-5
    assert rel_err(dx, reference(x, gamma, beta, g)[3][0]) > 1e-2
    assert rel_err(dx, reference(x, gamma, beta, g * (x > 0))[3][0]) > 1e-2
    # with the ReLU6: the mask has both ends; a ReLU's mask (the top left open) is far off
    ((x, g, gamma, beta), (dx, *_)), = steps(make_pair(shape[1], wide=True)[0], shape, count=1, act="relu6")
    y = reference(x, gamma, beta, g)[0]
    assert rel_err(dx, reference(x, gamma, beta, g * act_mask(y, "relu6"))[3][0]) <= 1e-5
    assert rel_err(dx, reference(x, gamma, beta, g * (y > 0))[3][0]) > 1e-2


def test_training_step_updates_moving_stats_in_graph_mode():
    """Inside nn.TrainOneStepCell in graph mode (how ms.Model trains) the moving statistics move as
    nn.BatchNorm2d's do, step after step, and the parameters as well."""
    ms.set_context(mode=ms.GRAPH_MODE)
    shape = (4, 3, 6, 6)
    results = []
    for cls in (BatchNorm2d, nn.BatchNorm2d):
        bn = cls(shape[1], momentum=MOMENTUM, eps=EPS)
        if cls is BatchNorm2d:
            bn.select_all = True
        step = nn.TrainOneStepCell(_Loss(bn), nn.SGD(bn.trainable_params(), learning_rate=0.1))
        step.set_train(True)
        for i in range(4):
            step(*(ms.Tensor(a) for a in data(shape, seed=i)))
        results.append([p.asnumpy().copy() for p in (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance)])
    for ours, standard in zip(*results):
        assert rel_err(ours, standard) <= 1e-5
    assert np.abs(results[0][2]).min() > 0.1  # the inputs' means moved the statistics away from their start


class _GateLoss(nn.Cell):
    """sum(bn.gate_product(x, bn's kernel outputs, gate) * g): the product after our BatchNorm, the gate an input."""

    def __init__(self, bn):
        super().__init__()
        self.bn = bn

    def construct(self, x, gate, g):
        return (self.bn.gate_product(x, self.bn.train_outputs(x), gate) * g).sum()


@pytest.mark.parametrize("mode", [ms.PYNATIVE_MODE, ms.GRAPH_MODE])
@pytest.mark.parametrize("shape", [(4, 6, 9, 7), (1, 3, 7, 5), (3, 16, 14, 14)])
def test_gate_after_batchnorm_matches_reference(shape, mode):
    """y * gate after our training BatchNorm (`gate_product`, GENet's Bottleneck), whose gate gradient is summed
    from the BatchNorm's input instead of its output: the product and the gradients to x, the gate, gamma and
    beta against float64 (gamma and beta far from 1 and 0, inputs with per-channel offsets). The comparison fails
    for a gate gradient without beta's share, one read from the neighbouring sample, and the gate of the
    neighbouring channel."""
    ms.set_context(mode=mode)
    ours, _ = make_pair(shape[1])
    ours.set_train(True)
    x, g = data(shape, seed=5)
    gate = np.random.default_rng(6).uniform(0.1, 1.0, shape[:2] + (1, 1)).astype(np.float32)
    gamma, beta = ours.gamma.asnumpy(), ours.beta.asnumpy()
    loss = _GateLoss(ours)
    loss.set_train(True)
    grad_fn = ms.value_and_grad(loss, grad_position=(0, 1), weights=[ours.gamma, ours.beta])
    if mode == ms.GRAPH_MODE:
        grad_fn = ms.jit(grad_fn)
    value, ((dx, dgate), (dgamma, dbeta)) = grad_fn(ms.Tensor(x), ms.Tensor(gate), ms.Tensor(g))
    ref_y = reference(x, gamma, beta, g)[0]
    _, _, _, (ref_dx, ref_dgamma, ref_dbeta) = reference(x, gamma, beta, g * gate)
    ref_dgate = (g * ref_y).sum((2, 3), keepdims=True)
    assert rel_err(value.asnumpy(), (ref_y * gate * g).sum()) <= 1e-5
    assert dgate.shape == gate.shape and dx.shape == x.shape
    for got, ref in ((dx, ref_dx), (dgate, ref_dgate), (dgamma, ref_dgamma), (dbeta, ref_dbeta)):
        assert rel_err(got.asnumpy(), ref) <= 1e-5
    no_beta = ref_dgate - (g * beta[None, :, None, None]).sum((2, 3), keepdims=True)
    assert rel_err(dgate.asnumpy(), no_beta) > 1e-2
    if shape[0] > 1:
        assert rel_err(dgate.asnumpy(), (g * ref_y[::-1]).sum((2, 3), keepdims=True)) > 1e-2
    assert rel_err(dx.asnumpy(), reference(x, gamma, beta, g * np.roll(gate, 1, axis=1))[3][0]) > 1e-2


def _missing_apply_relu(init):
    """BatchNorm2d.__init__ that then sets `apply_relu_op` and `apply_relu6_op` to an op whose kernel does not
    exist."""
    from mindspore import ops
    zeros = ops.ZerosLike()

    def bprop(x, gamma, beta, mean, invstd, config, out, dout):
        return tuple(zeros(a) for a in (x, gamma, beta, mean, invstd, config))

    missing = ops.Custom(f"{depthwise.library(batchnorm.SOURCE)}:NoSuchKernel", out_shape=lambda *a: a[0],
                         out_dtype=lambda *a: a[0], func_type="aot", bprop=bprop)

    def patched(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.apply_relu_op = self.apply_relu6_op = missing
    return patched


@pytest.mark.parametrize("build", ["conv_bn", "ConvBnAct", "Bottleneck", "DepthwiseSeparable"])
def test_relu_after_our_batchnorm_runs_inside_its_kernels(build, monkeypatch):
    """A graph-mode training step of conv + BN + ReLU (ReLU6) as the networks build it (layers.conv_bn,
    ConvBnAct, the ResNet Bottleneck, MobileNetV1's block with ReLU6) runs the activation inside our BatchNorm's op
    (`bn(x, "relu")`): with that op unable to run the step fails; in eval the same cells run MindSpore's BatchNorm
    and the activation. The BatchNorm is still called as a cell, so its forward hooks
    (deploy.parity.calibrate_batchnorm) see its input."""
    from src.models.layers import ConvBnAct, conv_bn
    from src.models.mobilenet_v1 import DepthwiseSeparable
    from src.models.resnet import Bottleneck
    ms.set_context(mode=ms.GRAPH_MODE)
    monkeypatch.setattr(BatchNorm2d, "__init__", _missing_apply_relu(BatchNorm2d.__init__))
    make = {"conv_bn": lambda: conv_bn(3, 4, 3, act="relu"), "ConvBnAct": lambda: ConvBnAct(3, 4, 3),
            "Bottleneck": lambda: Bottleneck(3, 4, 8), "DepthwiseSeparable": lambda: DepthwiseSeparable(3, 4, 1)}[build]
    net = make()
    x = ms.Tensor(data((2, 3, 6, 6), seed=0)[0])
    loss = _Loss(net)
    loss.set_train(True)
    g = ms.Tensor(np.ones((2, 8 if build == "Bottleneck" else 4, 6, 6), np.float32))
    with pytest.raises(RuntimeError, match="NoSuchKernel"):
        ms.jit(ms.value_and_grad(loss))(x, g)[0].asnumpy()
    net.set_train(False)
    assert np.isfinite(net(x).asnumpy()).all()
    seen = []
    monkeypatch.undo()
    net = make()
    bn = next(c for _, c in net.cells_and_names() if isinstance(c, BatchNorm2d))
    handle = bn.register_forward_pre_hook(lambda cell, inputs: seen.append(inputs[0].shape))
    ms.set_context(mode=ms.PYNATIVE_MODE)
    net.set_train(True)
    net(x).asnumpy()
    handle.remove()
    assert seen and seen[0][:2] == (2, bn.gamma.shape[0])


def test_runs_our_kernel_only_with_batch_statistics(monkeypatch):
    """A config tensor of the wrong length makes our kernel refuse (RuntimeError): that shows where it runs.
    Training: ours. Eval: MindSpore's (moving statistics). use_batch_statistics=True in eval: ours.
    use_batch_statistics=False in training (freeze_batch_norm): MindSpore's, moving statistics not updated."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    x = ms.Tensor(data((2, 4, 5, 5), seed=0)[0])
    for flag, train, runs_ours in ((None, True, True), (None, False, False), (True, False, True),
                                   (False, True, False)):
        bn, standard = make_pair(4, use_batch_statistics=flag)
        bn.set_train(train)
        standard.set_train(train)
        bn.config = ms.Tensor([EPS, 1 - MOMENTUM], ms.float32)
        if runs_ours:
            with pytest.raises(RuntimeError):
                bn(x).asnumpy()
        else:
            assert rel_err(bn(x).asnumpy(), standard(x).asnumpy()) == 0
    bn, standard = make_pair(4, use_batch_statistics=False)
    bn.moving_mean.set_data(ms.Tensor(np.full(4, 0.5, np.float32)))
    bn.set_train(True)
    before = bn.moving_mean.asnumpy().copy()
    loss = _Loss(bn)
    loss.set_train(True)
    ms.value_and_grad(loss, 0)(x, ms.Tensor(np.ones((2, 4, 5, 5), np.float32)))
    assert (bn.moving_mean.asnumpy() == before).all() and (bn.moving_variance.asnumpy() == 1).all()
    # the selection: outside "all", ours runs where kernel_wins says so
    bn, _ = make_pair(4)
    bn.select_all = False
    bn.set_train(True)
    bn.config = ms.Tensor([EPS, 1 - MOMENTUM], ms.float32)
    monkeypatch.setattr(batchnorm, "kernel_wins", lambda shape: shape[2] == 6)
    bn(x).asnumpy()  # 5x5: not selected
    with pytest.raises(RuntimeError):
        bn(ms.Tensor(np.ones((2, 4, 6, 6), np.float32))).asnumpy()


def test_fallbacks_and_bad_input(monkeypatch):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    # float16 (mixed precision) takes MindSpore's operator
    bn, standard = make_pair(3)
    bn.to_float(ms.float16)
    bn.set_train(True)
    x = ms.Tensor(data((2, 3, 4, 4), seed=1)[0], ms.float16)
    bn.config = ms.Tensor([EPS], ms.float32)  # ours would refuse
    assert bn(x).dtype == ms.float16
    # a batch with a single value per channel has no unbiased variance: MindSpore's operator decides
    assert not batchnorm.kernel_wins((1, 8, 1, 1)) and batchnorm.kernel_wins((2, 8, 1, 1))
    with pytest.raises(ValueError):
        BatchNorm2d(3)(ms.Tensor(np.ones((2, 3, 4), np.float32)))  # not NCHW: nn.BatchNorm2d's own check
    # the kernel itself refuses a batch with one value per channel
    bn, _ = make_pair(2)
    with pytest.raises(RuntimeError):
        bn.stats_op(ms.Tensor(np.ones((1, 2, 1, 1), np.float32)), bn.moving_mean, bn.moving_variance,
                    bn.config)[0].asnumpy()
    monkeypatch.setenv(depthwise.ENV_SWITCH, "0")
    assert not BatchNorm2d(4).use_kernel
    monkeypatch.setenv(depthwise.ENV_SWITCH, "1")
    # the exports' standard_ops switches ours off and back on
    net = nn.SequentialCell([BatchNorm2d(4)])
    with depthwise.standard_ops(net):
        assert not net[0].use_kernel
    assert net[0].use_kernel


def test_same_parameters_and_class_as_nn_batchnorm():
    from src.models.layers import BN_EPS, BN_MOMENTUM, batch_norm
    ours, standard = BatchNorm2d(5), nn.BatchNorm2d(5)
    assert isinstance(ours, nn.BatchNorm2d)
    assert [(p.name, p.shape, p.requires_grad) for p in ours.get_parameters()] == [
        (p.name, p.shape, p.requires_grad) for p in standard.get_parameters()]
    bn = batch_norm(8)
    assert type(bn) is BatchNorm2d and bn.eps == BN_EPS and np.isclose(bn.momentum, 1 - BN_MOMENTUM)


def _network(monkeypatch, mode, source=None, name="ghostnet_050"):
    from src.models import create_model
    monkeypatch.setenv(depthwise.ENV_SWITCH, mode)
    ms.set_seed(0)
    net = create_model(name, num_classes=5)
    if source is not None:
        ms.load_param_into_net(net, {p.name: ms.Parameter(p.data.copy(), p.name) for p in source.get_parameters()})
    return net


def _train_step(net):
    """(x, labels) -> loss and gradients of one graph-mode training step (value_and_grad, parameters not updated),
    and per BatchNorm the batch terms of its moving statistics, moving / (1 - momentum) from moving statistics set to
    0 first (0.9 + 0.1 * var would round the batch term away at float32 precision): the batch mean and the unbiased
    batch variance. One graph, compiled at the first call, for every input."""
    net.set_train(True)
    bns = [c for _, c in net.cells_and_names() if isinstance(c, nn.BatchNorm2d)]
    loss_net = nn.WithLossCell(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean"))
    step = ms.jit(ms.value_and_grad(loss_net, None, net.trainable_params()))

    def run(x, labels):
        for bn in bns:
            for stat in (bn.moving_mean, bn.moving_variance):
                stat.set_data(ms.Tensor(np.zeros(stat.shape, np.float32)))
        loss, grads = step(x, labels)
        terms = [[p.asnumpy().astype(np.float64) / (1 - MOMENTUM) for p in (bn.moving_mean, bn.moving_variance)]
                 for bn in bns]
        return [loss.asnumpy().astype(np.float64)] + [g.asnumpy().astype(np.float64) for g in grads], terms
    return run


def _stats_err(got, ref):
    """The batch terms' difference: the mean's relative to the largest batch standard deviation (a BN after a
    normalised input has means of float32 noise, so their own scale means nothing), the variance's to its scale."""
    (mean, var), (ref_mean, ref_var) = got, ref
    return max(float(np.abs(mean - ref_mean).max() / np.sqrt(ref_var.max())), rel_err(var, ref_var))


@pytest.mark.slow
@pytest.mark.parametrize("name,size", [("ghostnet_050", 32), ("repghostnet_050", 32), ("genet_res50_theta_minus", 64)])
def test_network_training_step_matches(monkeypatch, name, size):
    """ghostnet_050 at 32x32 (down to 1x1 maps: N*H*W = 4 there), GHOSTZOO_KERNELS=all (our BatchNorm on every BN,
    with the ReLUs after it taken in and the maps recomputed in the backward pass; our depthwise convs) against 0 on
    a copy of its weights: the loss, every gradient and every BN's batch statistics (read from the moving
    statistics' update) agree within 10x what a 1e-6 relative nudge of the input makes of the standard network's
    own (at least 1e-5 of the scale), as in test_depthwise. RepGhost (its sum and ReLU recomputed too) and GENet
    theta-minus (the ResNet Bottleneck, bn3's gate product) the same way at 64x64: at 32x32 its last stage has
    1x1 maps (N*H*W = 4) and layer4.2.bn3.beta's gradient differs by 22x the nudge's effect (0.255 relative), the
    same before the ReLU fusion and recomputation (commit dec7758) as after, and the same with bn3's gate product on
    MindSpore's operators. Not a BatchNorm error: on the inputs layer4.2's bn2 and bn3 get there, ours and
    nn.BatchNorm2d are equally close to float64 (dx 4.8e-7 / 4.3e-7 and 7.9e-7 / 7.7e-7 relative, dbeta below
    1e-7), and the backward pass of a network with batch-4 statistics at 1x1 maps amplifies their different
    roundings (a 1e-7 relative nudge of every weight moves that gradient by 1.2%)."""
    ms.set_context(mode=ms.GRAPH_MODE)
    off = _network(monkeypatch, "0", name=name)
    on = _network(monkeypatch, "all", source=off, name=name)
    count = sum(isinstance(c, BatchNorm2d) and c.use_kernel for _, c in on.cells_and_names())
    assert count == sum(isinstance(c, nn.BatchNorm2d) for _, c in off.cells_and_names()) and count > 20
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((4, 3, size, size)) * 2 + 0.5).astype(np.float32)
    nudged = ms.Tensor(x * (1 + 1e-6 * rng.standard_normal(x.shape)).astype(np.float32))
    labels = ms.Tensor(np.array([1, 3, 0, 4], np.int32))
    off_step = _train_step(off)
    (reference, ref_stats), (jitter, jit_stats), (ours, our_stats) = (
        off_step(ms.Tensor(x), labels), off_step(nudged, labels), _train_step(on)(ms.Tensor(x), labels))
    names = ["loss"] + [p.name for p in off.trainable_params()]
    assert len(ours) == len(reference) == len(names) and len(our_stats) == count
    for name, ref, jit, got in zip(names, reference, jitter, ours):
        assert rel_err(got, ref) <= max(1e-5, 10 * rel_err(jit, ref)), (name, rel_err(got, ref))
    for i, (ref, jit, got) in enumerate(zip(ref_stats, jit_stats, our_stats)):
        assert _stats_err(got, ref) <= max(1e-5, 10 * _stats_err(jit, ref)), (i, _stats_err(got, ref))
    wrong, wrong_stats = off_step(ms.Tensor(np.flip(x, 3).copy()), labels)
    assert max(rel_err(w, ref) for w, ref in zip(wrong, reference)) > 1e-2  # the check can fail
    assert max(_stats_err(w, ref) for w, ref in zip(wrong_stats, ref_stats)) > 1e-2


@pytest.mark.parametrize("kernels", ["1", "0"])
def test_training_graph_recomputes_only_where_our_batchnorm_runs(kernels, monkeypatch):
    """What the memory figures rest on (docs/performance.md, Memory): with our kernels the normalising ops, the
    Ghost module's concatenation and RepGhost's sum and ReLU are marked for recomputation in the backward pass;
    with GHOSTZOO_KERNELS=0 (as off the CPU) nothing is, and MindSpore's operators keep their outputs."""
    from src.models.ghost import GhostModule
    from src.models.repghost import RepGhostModule
    monkeypatch.setenv(depthwise.ENV_SWITCH, kernels)
    ghost, rep = GhostModule(8, 16), RepGhostModule(8, 16)
    marked = [ghost.concat.attrs.get("recompute", False), rep.add.attrs.get("recompute", False),
              rep.relu.relu.attrs.get("recompute", False)]
    if kernels == "1":
        bn = ghost.primary_conv[1]
        assert bn.apply_op.attrs.get("recompute") and bn.apply_relu_op.attrs.get("recompute")
        assert bn.apply_relu6_op.attrs.get("recompute")
        assert not bn.stats_op.attrs.get("recompute", False)  # its outputs are two C-vectors, kept
        assert all(marked)
    else:
        assert not ghost.primary_conv[1].use_kernel and not any(marked)
