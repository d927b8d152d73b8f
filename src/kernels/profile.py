"""Where the time of a network's inference or training step goes on CPU: MindSpore's profiler, per operator type.

    python -m src.kernels.profile --model ghostnet_100 --bench infer [--batch_size 32] [--image_size 224]
        [--warmup 1] [--steps 2] [--num_threads 0] [--output_dir DIR] [--top 16]

The network is built as benchmark.py builds it (src/benchmark/ours.py: inference in deploy form, re-parameterised
and BatchNorm folded; training the step cell ms.Model runs: loss, backward, Momentum), compiled, run `warmup`
times, timed for `steps` steps without the profiler, then run `steps` more under `mindspore.Profiler`, whose CPU
output lists every kernel's host time (FRAMEWORK/cpu_op_detail_info_*.csv). The table sums them by operator type,
with the convolutions split into depthwise (ours: the Custom ops, forward and gradients; MindSpore's Conv2D* on a
DepthwiseConv2d that runs the standard operator) and the rest, and our bias + activation kernel after the other
convolutions and the squeeze-excite product on their own rows, as ms per step and share of all kernel time.
MindSpore's CPU runtime may run independent kernels at the same time, so their sum can exceed the wall time.
"""
import argparse
import csv
import glob
import os
import sys
import tempfile
from collections import defaultdict
from typing import Dict, List, Tuple

CONVS = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter")


def op_group(op_type: str, full_name: str) -> str:
    """The table row of one kernel: its operator type, the depthwise convolutions (ours or MindSpore's) apart."""
    gradient = full_name.startswith("Gradients/")
    if op_type == "Custom" and "-BatchNorm2d/" in full_name:  # batchnorm.BatchNorm2d (a cell without children)
        return "BatchNorm gradient, ours (Custom)" if gradient else "BatchNorm forward, ours (Custom)"
    if op_type == "Custom" and "GateProduct" in full_name:
        return "squeeze-excite product, ours (Custom)"
    if op_type == "Custom" and "DepthwiseConv2d" not in full_name:
        return "bias + act, ours (Custom)"  # pointwise.Conv2d's kernel after MindSpore's convolution
    if op_type == "Custom":
        return "depthwise gradients, ours (Custom)" if gradient else "depthwise forward, ours (Custom)"
    if op_type in CONVS and "DepthwiseConv2d" in full_name:
        return f"{op_type} (depthwise, MindSpore's)"
    return op_type


def read_kernel_times(output_dir: str) -> List[Tuple[str, str, float]]:
    """(op type, full scope name, total ms over the profiled steps) of every kernel the profiler recorded."""
    paths = glob.glob(os.path.join(output_dir, "**", "FRAMEWORK", "cpu_op_detail_info_*.csv"), recursive=True)
    if not paths:
        raise FileNotFoundError(f"no cpu_op_detail_info_*.csv under {output_dir}: did the profiler run on CPU?")
    rows = []
    for path in paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                rows.append((row["op_type"], row["full_op_name"], float(row["op_total_time(ms)"])))
    return rows


def group_times(rows, steps: int) -> Dict[str, float]:
    """ms per step of each table row."""
    totals: Dict[str, float] = defaultdict(float)
    for op_type, full_name, ms in rows:
        totals[op_group(op_type, full_name)] += ms / steps
    return dict(totals)


def format_table(per_step: Dict[str, float], top: int) -> str:
    """A markdown table of the `top` largest rows (the rest as one "other" row), largest first."""
    total = sum(per_step.values())
    ranked = sorted(per_step.items(), key=lambda kv: -kv[1])
    shown, rest = ranked[:top], ranked[top:]
    if rest:
        shown.append((f"other ({len(rest)} types)", sum(ms for _, ms in rest)))
    lines = ["| operator | ms per step | share |", "| --- | ---: | ---: |"]
    lines += [f"| {name} | {ms:.1f} | {100 * ms / total:.1f}% |" for name, ms in shown]
    lines.append(f"| all kernels | {total:.1f} | 100% |")
    return "\n".join(lines)


def build_step(model: str, bench: str, batch_size: int, image_size: int, num_threads: int):
    """A callable running one inference or training step of `model` as benchmark.py times it (compiled)."""
    from ..benchmark import ours
    from ..models import deploy_form
    ours._setup("CPU", num_threads)
    net = ours.create_network(model, image_size)
    images, labels = ours._inputs(batch_size, image_size, 1000)
    if bench == "infer":
        deploy_form(net)
        net.compile(images)
        return lambda: net(images).asnumpy()
    train_net, _ = ours.train_network(net, "CPU", "O0", 1024.0, steps=10 ** 6)
    train_net.compile(images, labels)

    def step():
        out = train_net(images, labels)
        return (out[0] if isinstance(out, tuple) else out).asnumpy()
    return step


def profile(step, warmup: int, steps: int, output_dir: str) -> Tuple[float, List[Tuple[str, str, float]]]:
    """(median wall ms of `steps` unprofiled steps, the kernels the profiler saw over `steps` more)."""
    import mindspore as ms
    from ..benchmark.timing import time_steps
    wall_ms = time_steps(step, warmup, steps).median * 1000
    profiler = ms.Profiler(output_path=output_dir)
    for _ in range(steps):
        step()
    profiler.stop()
    profiler.analyse()
    return wall_ms, read_kernel_times(output_dir)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m src.kernels.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--bench", choices=("infer", "train"), default="infer")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--num_threads", type=int, default=0, help="0: every core this process may use")
    parser.add_argument("--output_dir", default="", help="the profiler's files (default: a temporary folder)")
    parser.add_argument("--top", type=int, default=16, help="rows shown; the rest are summed as 'other'")
    args = parser.parse_args(argv)
    step = build_step(args.model, args.bench, args.batch_size, args.image_size, args.num_threads)
    with tempfile.TemporaryDirectory(prefix="ghostzoo-profile-") as tmp:
        wall_ms, rows = profile(step, args.warmup, args.steps, args.output_dir or tmp)
    per_step = group_times(rows, args.steps)
    print(f"{args.model} {args.bench}, batch {args.batch_size}, {args.image_size}x{args.image_size}, "
          f"GHOSTZOO_KERNELS={os.environ.get('GHOSTZOO_KERNELS', '1')}: wall {wall_ms:.1f} ms per step "
          f"(median of {args.steps}, profiler off), kernels {sum(per_step.values()):.1f} ms per step (profiled)")
    print(format_table(per_step, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
