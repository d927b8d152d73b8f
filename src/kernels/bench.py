"""Time our depthwise kernels against MindSpore's convolution, per shape, in graph mode on CPU.

    python -m src.kernels.bench [--batch 32] [--rounds 3] [--iters 5] [--shapes issue|net|dfc] [--table]
    python -m src.kernels.bench --fusion|--batchnorm [--batch 32] [--rounds 3] [--iters 5]
    python -m src.kernels.bench --compile N [--rounds 3]

Each shape runs forward ("eval") and forward + backward to the input and the weight ("train"), ours and the
standard op in alternated rounds; a round's figure is the median of its timed calls, the reported figure the median
of the rounds. `--table` prints the `WINS` tuple for selection.py (the shapes where ours was faster).
`--fusion` times the inference graph's fusions the same way (fusion.py): a depthwise conv + bias + ReLU as our one
fused kernel, as our conv then MindSpore's BiasAdd and ReLU, and as MindSpore's three ops; a Ghost module's join
(conv + bias + ReLU, concatenated after its input) as our one kernel, as our fused conv then MindSpore's Concat,
and as MindSpore's four ops; for the pointwise convs' outputs, MindSpore's BiasAdd (+ ReLU) against our one-pass
bias (+ ReLU) kernel (pointwise.py); the squeeze-excite product x * gate, MindSpore's Tile + Mul against our
one-pass kernel (pointwise.GateProduct); GhostNetV2's upsampled gate product; and the global average pool,
ReduceMean against our one-pass mean (pointwise.GlobalMean), forward and with its gradient.
`--batchnorm` times our training BatchNorm (batchnorm.py) against MindSpore's, forward and forward +
backward, with one memory pass over the map as the unit (`time_batchnorm`). `--compile N` times compiling the
training graph of a chain of N BatchNorms, ours against MindSpore's (`time_compile`).
"""
import argparse
import statistics
import sys
from typing import Dict, List, Tuple

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from ..benchmark.timing import time_steps
from .pointwise import nearest_indices

# channels, map side, kernel, stride: the depthwise convs that dominate GhostNet / MobileNetV1 at 224x224
ISSUE_SHAPES = ((48, 112, 3, 2), (72, 56, 3, 1), (120, 28, 5, 1), (480, 14, 3, 1), (960, 7, 5, 1))
# every (map, kernel, stride) of a depthwise conv in GhostNet / RepGhost / MobileNetV1 at 224x224, with the channel
# count the issue's table has for that map
NET_CHANNELS = {112: 48, 56: 72, 28: 120, 14: 480, 7: 960}
NET_SHAPES = tuple((NET_CHANNELS[m], m, k, s) for m, k, s in (
    (112, 3, 1), (56, 3, 1), (28, 3, 1), (14, 3, 1), (7, 3, 1), (112, 3, 2), (56, 3, 2), (28, 3, 2), (14, 3, 2),
    (28, 5, 1), (14, 5, 1), (7, 5, 1), (56, 5, 2), (14, 5, 2)))
# channels, map side, kernel (h, w), stride of GhostNetV2's DFC attention convs at 224x224 (on the pooled maps: 28, 14,
# 7, and 3 where the last stage pools its 7x7 map), which pad "same"
DFC_SHAPES = tuple((c, m, k, 1) for c, m in ((72, 28), (240, 14), (480, 7), (960, 3)) for k in ((1, 5), (5, 1)))
# channels, map side of pointwise conv outputs followed by BiasAdd (+ ReLU) in ghostnet_100 / mobilenet_v1_100 at
# 224x224, then small maps (inputs of 32-64 pixels) where a kernel call's fixed cost weighs more
POINTWISE_SHAPES = ((16, 112), (24, 56), (36, 56), (60, 28), (120, 28), (240, 14), (480, 14), (64, 112),
                    (128, 56), (256, 28), (512, 14), (1024, 7), (16, 16), (60, 4), (240, 2), (480, 1))


class _Grad(nn.Cell):
    def __init__(self, net):
        super().__init__()
        self.net = net
        self.grad = ops.GradOperation(get_all=True, get_by_list=True)
        self.weights = ms.ParameterTuple(net.trainable_params())

    def construct(self, x):
        return self.grad(self.net, self.weights)(x)


def _convs(channels: int, kernel, stride: int):
    """(ours, standard): the same depthwise conv, ours forced onto every shape; a kernel given as (h, w) (the DFC
    attention's) pads "same", as GhostNetV2 builds it."""
    from .depthwise import DepthwiseConv2d
    if isinstance(kernel, tuple):
        args = dict(stride=stride, pad_mode="same", group=channels)
    else:
        args = dict(stride=stride, pad_mode="pad", padding=kernel // 2, group=channels)
    ours = DepthwiseConv2d(channels, channels, kernel, **args)
    if not ours.use_kernel:
        raise RuntimeError("our kernels are not available here (see the log line above)")
    ours.select_all = True
    standard = nn.Conv2d(channels, channels, kernel, **args)
    standard.weight.set_data(ours.weight.data)
    return ours, standard


def _step(cell, x, *more):
    def run():
        cell(x, *more)  # a graph-mode call on CPU returns when the work is done
    return run


def time_shape(shape: Tuple[int, int, int, int], batch: int, rounds: int, iters: int) -> Dict[str, float]:
    """Median ms per call of ours and the standard op, forward and forward + backward, for one shape."""
    channels, side, kernel, stride = shape
    x = ms.Tensor(np.random.default_rng(0).standard_normal((batch, channels, side, side), np.float32))
    ours, standard = _convs(channels, kernel, stride)
    cells = {}
    for name, conv in (("ours", ours), ("standard", standard)):
        conv.set_train(False)
        grad = _Grad(conv)
        grad.set_train(True)
        cells[f"eval_{name}"], cells[f"train_{name}"] = _step(conv, x), _step(grad, x)
    samples: Dict[str, List[float]] = {key: [] for key in cells}
    for _ in range(rounds):
        for key, step in cells.items():  # alternated: every round times each variant once
            samples[key].append(time_steps(step, warmup=1, iters=iters).median * 1000)
    return {key: statistics.median(values) for key, values in samples.items()}


class _Unfused(nn.Cell):
    """Our depthwise kernel, then MindSpore's BiasAdd and ReLU: the inference graph before the fusion."""

    def __init__(self, conv):
        super().__init__()
        self.conv, self.bias_add, self.relu = conv, ops.BiasAdd(), nn.ReLU()

    def construct(self, x):
        return self.relu(self.bias_add(self.conv.kernel_op(x, self.conv.weight, self.conv.geometry), self.conv.bias))


# channels of x1, map side of the Ghost modules' joins in ghostnet_100 at 224x224 (ghost1's and ghost2's)
JOIN_SHAPES = ((8, 112), (24, 112), (36, 56), (12, 56), (60, 28), (20, 28), (120, 28), (100, 14), (240, 14),
               (336, 14), (56, 14), (480, 7), (80, 7))


class _Join(nn.Cell):
    """concat((x, relu(conv(x) + bias))) of a Ghost module in an inference graph: our one joined kernel
    ("joined"), our fused conv then MindSpore's Concat ("concat"), or MindSpore's conv, BiasAdd, ReLU and Concat
    ("standard")."""

    def __init__(self, conv, how):
        super().__init__()
        self.conv, self.how, self.concat = conv, how, ops.Concat(axis=1)

    def construct(self, x):
        if self.how == "joined":
            return self.conv.join(x)
        return self.concat((x, self.conv(x)))


class _BiasAct(nn.Cell):
    """act(x + bias) (act: "relu" or "" for none): MindSpore's BiasAdd (and ReLU), or our one-pass kernel."""

    def __init__(self, channels, act, ours):
        from .depthwise import library, thread_count
        from .pointwise import bias_op
        super().__init__()
        self.bias = ms.Parameter(ms.Tensor(np.linspace(-1, 1, channels, dtype=np.float32)), name="bias")
        self.ours, self.has_act = ours, bool(act)
        self.bias_add, self.relu = ops.BiasAdd(), nn.ReLU()
        self.op, self.threads = bias_op(library(), act), ms.Tensor([thread_count()], ms.int32)

    def construct(self, x):
        if self.ours:
            return self.op(x, self.bias, self.threads)
        x = self.bias_add(x, self.bias)
        return self.relu(x) if self.has_act else x


# channels, map side of the squeeze-excite products in ghostnet_100 at 224x224
GATE_SHAPES = ((72, 28), (120, 28), (480, 14), (672, 14), (672, 7), (960, 7))


class _Gate(nn.Cell):
    """x * gate: our one-pass kernel (GateProduct) or MindSpore's Tile + Mul (layers.expand_gate)."""

    def __init__(self, ours):
        from .pointwise import GateProduct
        super().__init__()
        self.product, self.ours = GateProduct(), ours

    def construct(self, x, gate):
        if self.ours:
            return self.product(x, gate)
        return x * ops.tile(gate, (1, 1) + x.shape[2:])


# channels, map side of GhostNetV2's DFC attention products at 224x224 (the gate is pooled to half the side)
UPSAMPLE_SHAPES = ((72, 56), (240, 28), (480, 14), (960, 7))


class _UpsampleGate(nn.Cell):
    """x * the gate upsampled (nearest) to x's size: our one-pass kernel or MindSpore's two Gathers and Mul, as
    ghost.DFCAttention runs them."""

    def __init__(self, ours):
        from .depthwise import library, thread_count
        from .pointwise import upsample_gate_op
        super().__init__()
        self.ours, self.gather = ours, ops.Gather()
        self.op, self.threads = upsample_gate_op(library()), ms.Tensor([thread_count()], ms.int32)

    def construct(self, x, gate, rows, cols):
        if self.ours:
            return self.op(x, gate, rows, cols, self.threads)
        return x * self.gather(self.gather(gate, rows, 2), cols, 3)


# channels, map side of the global average pools in ghostnet_100 (squeeze-excite pools, the head's pool) and
# GENet-Res50 / ResNet (its gather pools and head) at 224x224
POOL_SHAPES = ((72, 28), (120, 28), (480, 14), (672, 14), (672, 7), (960, 7), (256, 56), (512, 28), (2048, 7))


class _Pool(nn.Cell):
    """The mean over H and W: our ChannelMean (pointwise.GlobalMean) or MindSpore's ReduceMean."""

    def __init__(self, ours):
        from .pointwise import GlobalMean
        super().__init__()
        self.pool = GlobalMean()
        self.pool.use_kernel = ours

    def construct(self, x):
        return self.pool(x)


class _GateTrain(nn.Cell):
    """The gradients of x * gate (or of the pool: x alone) to every input (the training graph's op and its
    backward)."""

    def __init__(self, gate):
        super().__init__()
        self.gate, self.grad = gate, ops.GradOperation(get_all=True)

    def construct(self, x, *more):
        return self.grad(self.gate)(x, *more)


def _alternate(cells: Dict[str, object], x, rounds: int, iters: int, *more) -> Dict[str, float]:
    samples: Dict[str, List[float]] = {key: [] for key in cells}
    for _ in range(rounds):
        for key, cell in cells.items():
            samples[key].append(time_steps(_step(cell, x, *more), warmup=1, iters=iters).median * 1000)
    return {key: statistics.median(values) for key, values in samples.items()}


def time_fusions(batch: int, rounds: int, iters: int) -> None:
    """Print the --fusion tables (module docstring)."""
    from .depthwise import DepthwiseConv2d
    rng = np.random.default_rng(0)
    print("| channels, map, kernel, stride | fused ms | ours + BiasAdd + ReLU ms | MindSpore's three ms | "
          "fused vs unfused |\n| --- | ---: | ---: | ---: | ---: |")
    for channels, side, kernel, stride in NET_SHAPES:
        x = ms.Tensor(rng.standard_normal((batch, channels, side, side), np.float32))
        args = dict(stride=stride, pad_mode="pad", padding=kernel // 2, group=channels, has_bias=True)
        fused = DepthwiseConv2d(channels, channels, kernel, **args)
        fused.select_all = True
        fused.fuse_activation(nn.ReLU())
        standard = nn.SequentialCell([nn.Conv2d(channels, channels, kernel, **args), nn.ReLU()])
        cells = {"fused": fused, "unfused": _Unfused(fused), "standard": standard}
        for cell in cells.values():
            cell.set_train(False)
        t = _alternate(cells, x, rounds, iters)
        print(f"| {channels}, {side}, {kernel}, {stride} | {t['fused']:.2f} | {t['unfused']:.2f} | "
              f"{t['standard']:.2f} | {t['unfused'] / t['fused']:.2f}x |", flush=True)
    print("\n| channels, map (pointwise output) | bias + ReLU ours ms | BiasAdd + ReLU MindSpore ms | speed-up | "
          "bias ours ms | BiasAdd MindSpore ms | speed-up |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for channels, side in POINTWISE_SHAPES:
        x = ms.Tensor(rng.standard_normal((batch, channels, side, side), np.float32))
        cells = {f"{act}_{side_}": _BiasAct(channels, act, side_ == "ours")
                 for act in ("relu", "") for side_ in ("ours", "standard")}
        t = _alternate(cells, x, rounds, iters)
        cols = [f"{t[f'{act}_ours']:.2f} | {t[f'{act}_standard']:.2f} | {t[f'{act}_standard'] / t[f'{act}_ours']:.2f}x"
                for act in ("relu", "")]
        print(f"| {channels}, {side} | " + " | ".join(cols) + " |", flush=True)
    print("\n| channels of x1, map (Ghost module join) | joined ms | ours + Concat ms | MindSpore's conv, BiasAdd, "
          "ReLU, Concat ms | joined vs ours + Concat |\n| --- | ---: | ---: | ---: | ---: |")
    for channels, side in JOIN_SHAPES:
        x = ms.Tensor(rng.standard_normal((batch, channels, side, side), np.float32))
        args = dict(pad_mode="pad", padding=1, group=channels, has_bias=True)
        ours = DepthwiseConv2d(channels, channels, 3, **args)
        ours.select_all = True
        ours.fuse_activation(nn.ReLU())
        standard = nn.SequentialCell([nn.Conv2d(channels, channels, 3, **args), nn.ReLU()])
        cells = {how: _Join(ours, how) for how in ("joined", "concat")}
        cells["standard"] = _Join(standard, "standard")
        for cell in cells.values():
            cell.set_train(False)
        t = _alternate(cells, x, rounds, iters)
        print(f"| {channels}, {side} | {t['joined']:.2f} | {t['concat']:.2f} | {t['standard']:.2f} | "
              f"{t['concat'] / t['joined']:.2f}x |", flush=True)
    for title, standard, product, shapes in (
            ("squeeze-excite product", "Tile + Mul", _Gate, GATE_SHAPES),
            ("DFC attention product, gate at half the side", "Gather + Mul", _UpsampleGate, UPSAMPLE_SHAPES),
            ("global average pool", "ReduceMean", _Pool, POOL_SHAPES)):
        print(f"\n| channels, map ({title}) | ours ms | {standard} MindSpore ms | speed-up | train ours ms | "
              "train MindSpore ms | speed-up |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for channels, side in shapes:
            _time_product(product, rng, batch, channels, side, rounds, iters)


def _time_product(product, rng, batch: int, channels: int, side: int, rounds: int, iters: int) -> None:
    """One row of a product table: `product(ours)` forward (eval) and with its gradients (train), ours against
    MindSpore's; _UpsampleGate's gate has half the side (3 for 7, as GhostNetV2 pools), _Gate's is (N, C, 1, 1),
    _Pool has none."""
    x = ms.Tensor(rng.standard_normal((batch, channels, side, side), np.float32))
    small = side // 2 if product is _UpsampleGate else 1
    more = [] if product is _Pool else [
        ms.Tensor(rng.uniform(0, 1, (batch, channels, small, small)).astype(np.float32))]
    if product is _UpsampleGate:
        more += [nearest_indices(small, side)] * 2
    cells = {}
    for key in ("ours", "standard"):
        cells[key], cells[f"train_{key}"] = product(key == "ours"), _GateTrain(product(key == "ours"))
        cells[key].set_train(False)
        cells[f"train_{key}"].set_train(True)
    t = _alternate(cells, x, rounds, iters, *more)
    print(f"| {channels}, {side} | {t['ours']:.2f} | {t['standard']:.2f} | {t['standard'] / t['ours']:.2f}x | "
          f"{t['train_ours']:.2f} | {t['train_standard']:.2f} | {t['train_standard'] / t['train_ours']:.2f}x |",
          flush=True)


def time_batchnorm(batch: int, rounds: int, iters: int, table: bool = False) -> None:
    """Print the --batchnorm table: training BatchNorm, forward and forward + backward (to the input, gamma and
    beta), ours (batchnorm.BatchNorm2d on its kernels) against MindSpore's nn.BatchNorm2d, and one memory pass over
    the same map (our bias kernel: read once, write once) as the unit: a training BatchNorm needs about two passes
    forward (statistics, then normalise) and three backward (two sums, then the input gradient). `table` prints the
    (channels, map) pairs where ours was faster forward + backward."""
    from .batchnorm import BatchNorm2d
    rng = np.random.default_rng(0)
    print("| channels, map | forward ours ms | forward MindSpore ms | speed-up | fwd + bwd ours ms | "
          "fwd + bwd MindSpore ms | speed-up | one pass ms | fwd + bwd ours / MindSpore in passes |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    wins = []
    for channels, side in POINTWISE_SHAPES:
        x = ms.Tensor((rng.standard_normal((batch, channels, side, side)) * 2 + 1).astype(np.float32))
        cells = {}
        for name, cls in (("ours", BatchNorm2d), ("standard", nn.BatchNorm2d)):
            bn = cls(channels, momentum=0.9)
            if name == "ours":
                if not bn.use_kernel:
                    raise RuntimeError("our kernels are not available here (see the log line above)")
                bn.select_all = True
            bn.set_train(True)
            grad = _Grad(bn)
            grad.set_train(True)
            cells[f"forward_{name}"], cells[f"train_{name}"] = bn, grad
        one_pass = _BiasAct(channels, "", True)
        one_pass.set_train(False)
        cells["pass"] = one_pass
        t = _alternate(cells, x, rounds, iters)
        fwd, train = t["forward_standard"] / t["forward_ours"], t["train_standard"] / t["train_ours"]
        if train > 1.0:
            wins.append((channels, side))
        print(f"| {channels}, {side} | {t['forward_ours']:.2f} | {t['forward_standard']:.2f} | {fwd:.2f}x | "
              f"{t['train_ours']:.2f} | {t['train_standard']:.2f} | {train:.2f}x | {t['pass']:.2f} | "
              f"{t['train_ours'] / t['pass']:.1f} / {t['train_standard'] / t['pass']:.1f} |", flush=True)
    if table:
        print(f"ours faster (forward + backward) on {len(wins)} of {len(POINTWISE_SHAPES)}: {wins}")


class _Chain(nn.Cell):
    def __init__(self, cells):
        super().__init__()
        self.chain = nn.CellList(cells)

    def construct(self, x):
        for cell in self.chain:
            x = cell(x)
        return x


def time_compile(count: int, rounds: int) -> None:
    """Print the --compile line: seconds to compile (and run once) the training graph (forward + backward to the
    input and the parameters) of a chain of `count` training BatchNorms, ours against MindSpore's, each round a new
    chain of each (alternated), medians over the rounds."""
    import time
    from .batchnorm import BatchNorm2d
    x = ms.Tensor(np.random.default_rng(0).standard_normal((2, 8, 4, 4)).astype(np.float32))
    samples: Dict[str, List[float]] = {"ours": [], "standard": []}
    for _ in range(rounds):
        for name, cls in (("ours", BatchNorm2d), ("standard", nn.BatchNorm2d)):
            chain = _Chain([cls(8, momentum=0.9) for _ in range(count)])
            if name == "ours":
                if not all(bn.use_kernel for bn in chain.chain):
                    raise RuntimeError("our kernels are not available here (see the log line above)")
            grad = _Grad(chain)
            grad.set_train(True)
            start = time.perf_counter()
            grad(x)
            samples[name].append(time.perf_counter() - start)
    ours, standard = (statistics.median(samples[k]) for k in ("ours", "standard"))
    print(f"compiling a training graph of {count} BatchNorms (median of {rounds}): ours {ours:.2f} s, "
          f"MindSpore's {standard:.2f} s, {1000 * (ours - standard) / count:.1f} ms more per BatchNorm")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m src.kernels.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--shapes", choices=("issue", "net", "dfc"), default="issue")
    parser.add_argument("--table", action="store_true", help="print the WINS tuple (--batchnorm: where ours won)")
    parser.add_argument("--fusion", action="store_true", help="time the inference graph's fusions instead")
    parser.add_argument("--batchnorm", action="store_true", help="time training BatchNorm (ours, MindSpore's)")
    parser.add_argument("--compile", type=int, default=0, metavar="N",
                        help="time compiling the training graph of N BatchNorms (ours, MindSpore's) instead")
    args = parser.parse_args(argv)
    chosen = [flag for flag, on in (("--fusion", args.fusion), ("--batchnorm", args.batchnorm),
                                     (f"--compile {args.compile}", args.compile)) if on]
    if len(chosen) > 1:
        parser.error(f"{' and '.join(chosen)} are separate measurements; give one of them")
    if args.compile < 0 or args.rounds < 1:
        parser.error(f"--compile takes a count of BatchNorms (1 or more) and --rounds 1 or more; got --compile "
                     f"{args.compile}, --rounds {args.rounds}")
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device("CPU")
    if args.compile:
        time_compile(args.compile, args.rounds)
        return 0
    if args.fusion or args.batchnorm:
        if args.fusion:
            time_fusions(args.batch, args.rounds, args.iters)
        else:
            time_batchnorm(args.batch, args.rounds, args.iters, args.table)
        return 0
    shapes = {"issue": ISSUE_SHAPES, "net": NET_SHAPES, "dfc": DFC_SHAPES}[args.shapes]
    print("| channels, map, kernel, stride | eval ours ms | eval MindSpore ms | speed-up | "
          "train ours ms | train MindSpore ms | speed-up |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    wins = []
    for shape in shapes:
        t = time_shape(shape, args.batch, args.rounds, args.iters)
        cols = []
        for kind in ("eval", "train"):
            ratio = t[f"{kind}_standard"] / t[f"{kind}_ours"]
            cols += [f"{t[f'{kind}_ours']:.1f}", f"{t[f'{kind}_standard']:.1f}", f"{ratio:.2f}x"]
            if ratio > 1.0:
                _, side, kernel, stride = shape
                kh, kw = kernel if isinstance(kernel, tuple) else (kernel, kernel)
                wins.append((kh, kw, stride, stride, 1, 1, side, side, kind))
        print(f"| {', '.join(map(str, shape))} | " + " | ".join(cols) + " |", flush=True)
    if args.table:
        print("WINS = (\n" + "".join(f"    {w!r},\n" for w in wins) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
