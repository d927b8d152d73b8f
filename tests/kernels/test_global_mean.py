"""Our global average pool (pointwise.GlobalMean: ChannelMean forward, ChannelSpread for its gradient) against a
float64 NumPy mean and MindSpore's ReduceMean; the mistakes the comparison catches; the kernel's own shape checks;
exports keep ReduceMean."""
import mindspore as ms
import numpy as np
import onnx
import pytest
from mindspore import nn, ops

from src.kernels import depthwise
from src.kernels.pointwise import GlobalMean, mean_op

from .test_depthwise import rel_err

pytestmark = pytest.mark.skipif(depthwise.library() is None, reason="our kernels cannot run here (no g++ / AVX2)")

TOL = 1e-6  # a sum in double of float32 blocks, one rounding to float32: relative to the means' scale
# maps whose size is no multiple of 8 or 32 (the kernel's vector blocks), a 1x1 map, one channel, a large map
SHAPES = [(2, 3, 5, 7), (1, 4, 1, 1), (3, 1, 9, 9), (2, 5, 56, 56)]


class _Grads(nn.Cell):
    """The gradient of sum(pool(x) * g) to x, compiled in the context's mode."""

    def __init__(self, pool):
        super().__init__()
        self.pool = pool

    def construct(self, x, g):
        return ms.grad(lambda a: (self.pool(a) * g).sum())(x)


@pytest.mark.parametrize("mode", [ms.PYNATIVE_MODE, ms.GRAPH_MODE])
@pytest.mark.parametrize("keep_dims", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
def test_mean_and_its_gradient_match(shape, keep_dims, mode):
    """GlobalMean with our kernel: the float64 mean of each plane (positive offset per plane, so the means are not
    near zero and a relative comparison is meaningful), ReduceMean's output, and the gradient dout / (H * W)."""
    ms.set_context(mode=mode)
    rng = np.random.default_rng(sum(shape))
    x = (rng.standard_normal(shape) + rng.uniform(1, 3, shape[:2] + (1, 1))).astype(np.float32)
    ours, standard = GlobalMean(keep_dims), GlobalMean(keep_dims)
    standard.use_kernel = False
    assert ours.use_kernel
    ref = x.astype(np.float64).mean(axis=(2, 3), keepdims=keep_dims)
    got = ours(ms.Tensor(x)).asnumpy()
    assert got.shape == ref.shape
    assert rel_err(got, ref) < TOL, rel_err(got, ref)
    assert rel_err(standard(ms.Tensor(x)).asnumpy(), ref) < 10 * TOL
    g = rng.standard_normal(ref.shape).astype(np.float32)
    dx = _Grads(ours)(ms.Tensor(x), ms.Tensor(g)).asnumpy()
    dx_standard = _Grads(standard)(ms.Tensor(x), ms.Tensor(g)).asnumpy()
    expected = np.broadcast_to(g.reshape(shape[:2] + (1, 1)).astype(np.float64) / (shape[2] * shape[3]), shape)
    assert dx.shape == shape and rel_err(dx, expected) < TOL
    assert rel_err(dx_standard, expected) < TOL


def test_the_comparison_catches_mistakes():
    """The check above fails for the neighbouring plane's mean, the sum in place of the mean, and a gradient
    spread over the wrong plane or not divided by the map's size."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((2, 3, 5, 7)) + rng.uniform(1, 3, (2, 3, 1, 1))).astype(np.float32)
    ref = x.astype(np.float64).mean(axis=(2, 3), keepdims=True)
    got = GlobalMean()(ms.Tensor(x)).asnumpy()
    assert rel_err(got, ref) < TOL
    assert rel_err(np.roll(got, 1, axis=1), ref) > 1e3 * TOL
    assert rel_err(got * 35, ref) > 1e3 * TOL
    g = rng.standard_normal(ref.shape).astype(np.float32)
    dx = _Grads(GlobalMean())(ms.Tensor(x), ms.Tensor(g)).asnumpy()
    expected = np.broadcast_to(g.astype(np.float64) / 35, x.shape)
    assert rel_err(dx, expected) < TOL
    assert rel_err(np.roll(dx, 1, axis=1), expected) > 1e3 * TOL
    assert rel_err(dx * 35, expected) > 1e3 * TOL


def test_kernel_refuses_shapes_that_do_not_fit():
    """ChannelMean given an output of another shape, and ChannelSpread given a map of another batch, fail with
    the kernel's error code instead of writing past a buffer."""
    ms.set_context(mode=ms.PYNATIVE_MODE)
    lib, threads = depthwise.library(), ms.Tensor([2], ms.int32)
    x = ms.Tensor(np.ones((2, 3, 4, 4), np.float32))
    wrong_out = ops.Custom(f"{lib}:ChannelMean", out_shape=lambda x, t: [x[0], x[1] + 1, 1, 1],
                           out_dtype=lambda x, t: x, func_type="aot")
    wrong_out.add_prim_attr("shape_cache", "wrong")  # MindSpore caches inferred shapes by an op's attributes
    with pytest.raises(RuntimeError, match="ChannelMean"):
        wrong_out(x, threads).asnumpy()
    spread = ops.Custom(f"{lib}:ChannelSpread", out_shape=lambda g, t, x: x, out_dtype=lambda g, t, x: g,
                        func_type="aot")
    with pytest.raises(RuntimeError, match="ChannelSpread"):
        spread(ms.Tensor(np.ones((1, 3, 1, 1), np.float32)), threads, x).asnumpy()
    assert mean_op(lib)(x, threads).shape == (2, 3, 1, 1)


def test_export_keeps_reduce_mean(tmp_path):
    """An ONNX export of a network whose pools ran our kernel holds ReduceMean (standard_ops), not our op."""
    from src.deploy.export import export_model
    from src.models import create_model, deploy_form
    ms.set_context(mode=ms.GRAPH_MODE)
    net = create_model("ghostnet_050", num_classes=5, image_size=32)
    deploy_form(net)
    pools = [c for _, c in net.cells_and_names() if isinstance(c, GlobalMean)]
    assert pools and all(p.use_kernel for p in pools)
    net(ms.Tensor(np.ones((1, 3, 32, 32), np.float32)))
    path = export_model(net, str(tmp_path / "net"), "ONNX", batch_size=1, image_size=32)
    types = [node.op_type for node in onnx.load(path).graph.node]
    assert types.count("ReduceMean") == len(pools), types


@pytest.mark.parametrize("mode", [ms.PYNATIVE_MODE, ms.GRAPH_MODE])
def test_the_pool_runs_our_kernel_forward_and_backward(mode):
    """GlobalMean runs ChannelMean forward and ChannelSpread backward (the comparisons above would also pass on
    ReduceMean): with either op swapped for one whose kernel does not exist the call fails; with the kernels off
    (`use_kernel` False, as in exports) the same call runs."""
    ms.set_context(mode=mode)
    lib = depthwise.library()
    x = ms.Tensor(np.ones((2, 3, 4, 4), np.float32))
    g = ms.Tensor(np.ones((2, 3, 1, 1), np.float32))
    missing = ops.Custom(f"{lib}:NoSuchKernel", out_shape=lambda x, t: list(x[:2]) + [1, 1],
                         out_dtype=lambda x, t: x, func_type="aot")
    pool = GlobalMean()
    pool.mean = missing
    with pytest.raises(RuntimeError, match="NoSuchKernel"):
        pool(x).asnumpy()
    spread_missing = ops.Custom(f"{lib}:NoSuchKernel", out_shape=lambda g, t, x: x, out_dtype=lambda g, t, x: g,
                                func_type="aot")
    spread_missing.add_prim_attr("shape_cache", "spread")

    def bprop(x, threads, out, dout):
        return spread_missing(dout, threads, x), ops.zeros_like(threads)
    forward = ops.Custom(f"{lib}:ChannelMean", out_shape=lambda x, t: list(x[:2]) + [1, 1],
                         out_dtype=lambda x, t: x, func_type="aot", bprop=bprop)
    pool = GlobalMean()
    pool.mean = forward
    assert rel_err(pool(x).asnumpy(), np.ones((2, 3, 1, 1))) < TOL  # the forward is ours and runs
    with pytest.raises(RuntimeError, match="NoSuchKernel"):
        _Grads(pool)(x, g).asnumpy()
    off = GlobalMean()
    off.use_kernel = False
    off.mean = missing
    assert rel_err(_Grads(off)(x, g).asnumpy(), np.full((2, 3, 4, 4), 1 / 16)) < TOL
