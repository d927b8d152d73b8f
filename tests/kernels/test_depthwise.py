"""Our depthwise convolution kernels (src/kernels) against a float64 NumPy reference, MindSpore's nn.Conv2d and
finite differences; the fallbacks; a whole network with the kernels on and off; export with the standard op."""
import os
import threading

import mindspore as ms
import numpy as np
import onnx
import pytest
from mindspore import nn

from src.kernels import build, depthwise
from src.kernels.depthwise import DepthwiseConv2d, depthwise_op, geometry_tensor

pytestmark = pytest.mark.skipif(depthwise.library() is None, reason="our kernels cannot run here (no g++ / AVX2)")


def reference(x, w, stride, pad, dil):
    """Forward and its adjoints in float64: y, and a function g -> (dL/dx, dL/dw) for L = sum(y * g)."""
    (sh, sw), (ph, pw), (dh, dw) = stride, pad, dil
    x, w = x.astype(np.float64), w.astype(np.float64)
    n, c, h, wd = x.shape
    kh, kw = w.shape[2:]
    oh, ow = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))

    def window(i, j):
        return (slice(None), slice(None), slice(i * dh, i * dh + sh * (oh - 1) + 1, sh),
                slice(j * dw, j * dw + sw * (ow - 1) + 1, sw))

    taps = [(i, j) for i in range(kh) for j in range(kw)]
    y = sum(w[None, :, 0, i, j, None, None] * xp[window(i, j)] for i, j in taps)

    def adjoint(g):
        g = g.astype(np.float64)
        dxp, dw_ = np.zeros_like(xp), np.zeros_like(w)
        for i, j in taps:
            dxp[window(i, j)] += w[None, :, 0, i, j, None, None] * g
            dw_[:, 0, i, j] = (g * xp[window(i, j)]).sum(axis=(0, 2, 3))
        return dxp[:, :, ph:ph + h, pw:pw + wd], dw_
    return y, adjoint


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def make_convs(channels, kernel, stride, dilation):
    """Ours (forced onto every shape) and nn.Conv2d with the same random weight and symmetric padding."""
    pad = tuple(d * (k // 2) for d, k in zip(pair(dilation), pair(kernel)))
    args = dict(stride=stride, pad_mode="pad", padding=(pad[0], pad[0], pad[1], pad[1]), dilation=dilation,
                group=channels)
    ours = DepthwiseConv2d(channels, channels, kernel, **args)
    assert ours.use_kernel
    ours.select_all = True
    standard = nn.Conv2d(channels, channels, kernel, **args)
    weight = np.random.default_rng(channels).standard_normal(standard.weight.shape).astype(np.float32)
    ours.weight.set_data(ms.Tensor(weight))
    standard.weight.set_data(ms.Tensor(weight))
    return ours, standard, pad


def run(conv, x, g):
    """Output, dL/dx and dL/dw of L = sum(conv(x) * g)."""
    def loss(inp):
        return (conv(inp) * g).sum()
    grad = ms.value_and_grad(loss, 0, conv.trainable_params())
    _, (dx, (dw,)) = grad(x)
    return conv(x).asnumpy(), dx.asnumpy(), dw.asnumpy()


def rel_err(a, ref):
    """Largest difference relative to the reference's scale."""
    return float(np.abs(np.asarray(a, np.float64) - ref).max() / max(np.abs(ref).max(), 1e-30))


# channels, map (h, w), kernel, stride, dilation, batch: the networks' shapes (channels scaled down) and odd ones
SHAPES = [
    (3, (112, 112), 3, 2, 1, 2), (4, (56, 56), 3, 1, 1, 2), (4, (28, 28), 5, 1, 1, 2), (6, (14, 14), 3, 1, 1, 2),
    (8, (7, 7), 5, 1, 1, 2), (5, (13, 13), 5, 2, 1, 2), (1, (9, 9), 3, 2, 1, 1), (3, (11, 11), 3, 1, 2, 1),
    (2, (17, 17), 3, 1, 4, 2), (3, (15, 15), 3, 2, 2, 1), (2, (9, 12), 3, (1, 2), 1, 2), (2, (10, 7), (1, 5), 1, 1, 1),
]
# issue 24's table at full width (the OpenMP split over channel planes as the networks run it)
SHAPES += [(48, (112, 112), 3, 2, 1, 2), (72, (56, 56), 3, 1, 1, 2), (120, (28, 28), 5, 1, 1, 2),
           (480, (14, 14), 3, 1, 1, 2), (960, (7, 7), 5, 1, 1, 2)]


@pytest.mark.parametrize("channels,hw,kernel,stride,dilation,batch", SHAPES)
def test_matches_reference_and_standard(channels, hw, kernel, stride, dilation, batch):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    rng = np.random.default_rng(sum(hw))
    ours, standard, pad = make_convs(channels, kernel, stride, dilation)
    x = rng.standard_normal((batch, channels) + hw).astype(np.float32)
    y_ref, adjoint = reference(x, standard.weight.asnumpy(), pair(stride), pad, pair(dilation))
    g = rng.standard_normal(y_ref.shape).astype(np.float32)
    dx_ref, dw_ref = adjoint(g)
    got, std = run(ours, ms.Tensor(x), ms.Tensor(g)), run(standard, ms.Tensor(x), ms.Tensor(g))
    for name, a, b, ref in zip(("y", "dx", "dw"), got, std, (y_ref, dx_ref, dw_ref)):
        assert a.shape == ref.shape, name
        assert rel_err(a, ref) < 2e-6, (name, rel_err(a, ref), rel_err(b, ref))
        assert rel_err(a, b) < 2e-6, (name, rel_err(a, b))


def test_grads_match_finite_differences():
    """The gradients against central differences of the float64 forward at random coordinates."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    rng = np.random.default_rng(5)
    ours, _, pad = make_convs(3, 3, 2, 1)
    x = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
    w = ours.weight.asnumpy()
    g = rng.standard_normal(reference(x, w, (2, 2), pad, (1, 1))[0].shape)
    _, dx, dw = run(ours, ms.Tensor(x), ms.Tensor(g.astype(np.float32)))

    def loss(xv, wv):
        return float((reference(xv, wv, (2, 2), pad, (1, 1))[0] * g).sum())
    eps = 1e-3
    for _ in range(6):
        idx = tuple(rng.integers(0, s) for s in x.shape)
        step = np.zeros(x.shape)
        step[idx] = eps
        fd = (loss(x + step, w) - loss(x - step, w)) / (2 * eps)
        assert abs(fd - dx[idx]) < 1e-4 * max(1.0, abs(fd)), (idx, fd, dx[idx])
        kdx = tuple(rng.integers(0, s) for s in w.shape)
        step = np.zeros(w.shape)
        step[kdx] = eps
        fd = (loss(x, w + step) - loss(x, w - step)) / (2 * eps)
        assert abs(fd - dw[kdx]) < 1e-4 * max(1.0, abs(fd)), (kdx, fd, dw[kdx])


def test_graph_mode_matches_standard():
    ms.set_context(mode=ms.GRAPH_MODE)
    rng = np.random.default_rng(2)
    ours, standard, _ = make_convs(4, 5, 2, 1)
    x = ms.Tensor(rng.standard_normal((2, 4, 15, 15)).astype(np.float32))
    g = ms.Tensor(rng.standard_normal((2, 4, 8, 8)).astype(np.float32))
    for a, b in zip(run(ours, x, g), run(standard, x, g)):
        assert rel_err(a, b.astype(np.float64)) < 2e-6


def _raw(x, w, stride, pad, dil, geometry):
    """Our forward op built for (stride, pad, dil) but handed the geometry tensor `geometry`."""
    op = depthwise_op(depthwise.library(), pair(stride), pair(pad), pair(dil), w.shape[2:])
    return op(ms.Tensor(x), ms.Tensor(w), geometry).asnumpy()


def test_wrong_geometry_is_caught():
    """A kernel run with a wrong padding / dilation fails the comparison; a swapped stride fails the kernel's own
    shape check (its output would not have the shape MindSpore inferred)."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 10, 14)).astype(np.float32)
    w = rng.standard_normal((3, 1, 3, 3)).astype(np.float32)
    ref = reference(x, w, (1, 1), (1, 1), (1, 1))[0]
    right = _raw(x, w, 1, 1, 1, geometry_tensor((1, 1), (1, 1), (1, 1)))
    assert rel_err(right, ref) < 2e-6
    wrong = _raw(x, w, 1, 1, 1, geometry_tensor((1, 1), (2, 2), (2, 2)))  # same output shape, other taps
    assert wrong.shape == ref.shape and rel_err(wrong, ref) > 0.1
    ref = reference(x, w, (1, 2), (1, 1), (1, 1))[0]
    with pytest.raises(RuntimeError):
        _raw(x, w, (1, 2), 1, 1, geometry_tensor((2, 1), (1, 1), (1, 1)))


def test_selection_table_decides(monkeypatch):
    """Outside "all", ours runs only for the shapes the table lists (a wrong geometry tensor makes that visible)."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ours, _, _ = make_convs(2, 3, 1, 1)
    ours.select_all = False
    ours.geometry = geometry_tensor((2, 2), (1, 1), (1, 1))  # our kernel would refuse every input
    monkeypatch.setattr(depthwise, "kernel_wins", lambda key, shape, training: shape[2] == 9)
    x = ms.Tensor(np.ones((1, 2, 8, 8), np.float32))
    assert ours(x).asnumpy().shape == (1, 2, 8, 8)  # not listed: the standard op
    with pytest.raises(RuntimeError):
        ours(ms.Tensor(np.ones((1, 2, 9, 9), np.float32))).asnumpy()  # listed: our kernel


def test_off_switch_and_no_compiler(monkeypatch):
    monkeypatch.setenv(depthwise.ENV_SWITCH, "0")
    assert not DepthwiseConv2d(4, 4, 3, pad_mode="pad", padding=1, group=4).use_kernel
    monkeypatch.setenv(depthwise.ENV_SWITCH, "1")
    monkeypatch.setattr(depthwise, "_STATE", {})
    monkeypatch.setattr(build, "COMPILER", "no-such-compiler-here")
    monkeypatch.setenv("GHOSTZOO_HOME", "/nonexistent/ghostzoo")
    conv = DepthwiseConv2d(4, 4, 3, pad_mode="pad", padding=1, group=4)
    assert not conv.use_kernel
    monkeypatch.setenv(depthwise.ENV_SWITCH, "maybe")
    with pytest.raises(ValueError, match="GHOSTZOO_KERNELS"):
        depthwise.kernel_mode()


def test_not_depthwise_or_asymmetric_keeps_standard():
    assert not DepthwiseConv2d(4, 8, 3, pad_mode="pad", padding=1, group=4).use_kernel
    assert not DepthwiseConv2d(4, 4, 3, pad_mode="pad", padding=(0, 1, 1, 1), group=4).use_kernel
    assert not DepthwiseConv2d(4, 4, 3, stride=2, pad_mode="same", group=4).use_kernel
    assert [p.name for p in DepthwiseConv2d(4, 4, 3, group=4, has_bias=True).get_parameters()] == ["weight", "bias"]


@pytest.mark.slow
def test_parallel_builds_build_once(tmp_path, monkeypatch):
    monkeypatch.setenv("GHOSTZOO_HOME", str(tmp_path))
    paths = []
    threads = [threading.Thread(target=lambda: paths.append(build.build(depthwise.SOURCE))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(paths)) == 1 and os.path.isfile(paths[0])
    assert sorted(os.listdir(tmp_path / "kernels")) == [".lock", os.path.basename(paths[0])]
    assert build.build(depthwise.SOURCE) == paths[0]


def _network(monkeypatch, mode, source=None, name="mobilenet_v1_025"):
    from src.models import create_model
    monkeypatch.setenv(depthwise.ENV_SWITCH, mode)
    ms.set_seed(0)
    net = create_model(name, num_classes=5)
    if source is not None:
        ms.load_param_into_net(net, {p.name: ms.Parameter(p.data.copy(), p.name) for p in source.get_parameters()})
    return net


class _LossAndLogits(nn.Cell):
    def __init__(self, net):
        super().__init__()
        self.net = net
        self.loss_fn = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")

    def construct(self, x, labels):
        logits = self.net(x)
        return self.loss_fn(logits, labels), logits


def _train_grads(net):
    """(x, labels) -> the logits (training mode: batch statistics) and the gradients of one training step; one
    graph, compiled at the first call, for every input."""
    net.set_train(True)
    step = ms.jit(ms.value_and_grad(_LossAndLogits(net), None, net.trainable_params(), has_aux=True))

    def run(x, labels):
        (_, logits), grads = step(x, labels)
        return [logits.asnumpy().astype(np.float64)] + [g.asnumpy().astype(np.float64) for g in grads]
    return run


@pytest.mark.slow
@pytest.mark.parametrize("name, kernels", [("mobilenet_v1_025", 13), ("ghostnet_050", 41), ("ghostnetv2_100", 69)])
def test_network_same_logits_and_gradients(name, kernels, monkeypatch):
    """mobilenet_v1_025 and ghostnet_050 (squeeze-excite: our gate product and its gradient kernels too) with our
    kernels on every depthwise conv give the standard op's logits (training mode:
    with untrained batch-norm statistics every image gives the same eval logits) and one training step's gradients.
    Batch-norm gamma gradients are sums that cancel almost to nothing, so float32 rounding moves them far more than
    the rest: each result may differ by 10x what a 1e-6 relative change of the input makes of the standard network's
    own (and by at least 1e-5 of its scale)."""
    ms.set_context(mode=ms.GRAPH_MODE)
    off = _network(monkeypatch, "0", name=name)
    on = _network(monkeypatch, "all", source=off, name=name)
    assert sum(isinstance(c, DepthwiseConv2d) and c.use_kernel for _, c in on.cells_and_names()) == kernels
    assert not any(getattr(c, "use_kernel", False) for _, c in off.cells_and_names())
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 64, 64)).astype(np.float32)
    nudged = ms.Tensor(x * (1 + 1e-6 * rng.standard_normal(x.shape)).astype(np.float32))
    labels = ms.Tensor(np.array([1, 3, 0, 4], np.int32))
    x = ms.Tensor(x)
    off_step = _train_grads(off)
    reference, jitter, ours = off_step(x, labels), off_step(nudged, labels), _train_grads(on)(x, labels)
    assert reference[0].std(axis=0).max() > 0.1 * np.abs(reference[0]).max()  # the images give different logits
    names = ["logits"] + [p.name for p in off.trainable_params()]
    for name, ref, jit, got in zip(names, reference, jitter, ours):
        assert rel_err(got, ref) <= max(1e-5, 10 * rel_err(jit, ref)), (name, rel_err(got, ref))
    wrong = off_step(ms.Tensor(np.flip(x.asnumpy(), 3).copy()), labels)
    assert max(rel_err(w, ref) for w, ref in zip(wrong, reference)) > 1e-2  # the check can fail


def test_export_keeps_standard_op(tmp_path):
    """ONNX export of a net whose depthwise conv runs our kernel (compiled first) writes MindSpore's Conv."""
    from src.deploy.export import export_model
    ms.set_context(mode=ms.GRAPH_MODE)
    ours, standard, _ = make_convs(3, 3, 1, 1)
    x = ms.Tensor(np.ones((1, 3, 16, 16), np.float32))
    ours.set_train(False)
    ours(x)
    types = []
    for name, net in (("ours", ours), ("standard", standard)):
        path = export_model(net, str(tmp_path / name), "ONNX", batch_size=1, image_size=16)
        types.append([node.op_type for node in onnx.load(path).graph.node])
    assert types[0] == types[1] and "Conv" in types[0]
    assert ours.use_kernel


def test_thread_count_changes_nothing(monkeypatch):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    x = np.random.default_rng(4).standard_normal((3, 5, 12, 12)).astype(np.float32)
    w = np.random.default_rng(5).standard_normal((5, 1, 3, 3)).astype(np.float32)
    outs = [_raw(x, w, 2, 1, 1, geometry_tensor((2, 2), (1, 1), (1, 1), threads=n)) for n in (1, 3)]
    assert np.array_equal(outs[0], outs[1])
    monkeypatch.setattr(depthwise, "_STATE", dict(depthwise._STATE))
    depthwise.set_threads(1)
    assert geometry_tensor((1, 1), (0, 0), (1, 1)).asnumpy()[-1] == 1
    with pytest.raises(ValueError, match="num_threads"):
        depthwise.set_threads(-1)


@pytest.mark.parametrize("mode", [ms.PYNATIVE_MODE, ms.GRAPH_MODE])
def test_geometries_with_equal_input_shapes_stay_apart(mode):
    """Two convs on the same input shape and weight shape, stride 1 and stride 2, in one process: each keeps its
    own output shape (MindSpore caches inferred shapes by an op's attributes and input shapes)."""
    ms.set_context(mode=mode)
    x = ms.Tensor(np.ones((1, 6, 16, 16), np.float32))
    shapes = []
    for stride in (1, 2, 1):
        conv = DepthwiseConv2d(6, 6, 3, stride=stride, pad_mode="pad", padding=1, group=6)
        conv.select_all = True
        conv.set_train(False)
        shapes.append(conv(x).asnumpy().shape)
    assert shapes == [(1, 6, 16, 16), (1, 6, 8, 8), (1, 6, 16, 16)]


@pytest.mark.parametrize("name", ["ghostnet_050", "repghostnet_050", "ghostnetv2_100", "ghostnetv3_050"])
def test_networks_build_depthwise_convs_through_the_helper(name, monkeypatch):
    """Every depthwise conv of the family (k x k, and GhostNetV2/V3's 1x5 / 5x1 DFC attention convs, which pad
    "same") is a DepthwiseConv2d, and the parameter names and shapes are those of the network built with the
    kernels off."""
    from src.models import create_model
    nets = []
    for mode in ("0", "1"):
        monkeypatch.setenv(depthwise.ENV_SWITCH, mode)
        nets.append(create_model(name, num_classes=4))
    dw = [c for _, c in nets[1].cells_and_names() if isinstance(c, nn.Conv2d) and c.group > 1
          and c.group == c.in_channels == c.out_channels and c.pad_mode in ("pad", "same")]
    assert dw and all(isinstance(c, DepthwiseConv2d) and c.use_kernel for c in dw)
    dfc = [c for c in dw if c.kernel_size in ((1, 5), (5, 1))]
    assert bool(dfc) == name.startswith(("ghostnetv2", "ghostnetv3"))
    names = [[(p.name, p.shape) for p in net.get_parameters()] for net in nets]
    assert names[0] == names[1]
