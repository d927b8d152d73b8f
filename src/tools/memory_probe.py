"""Where a benchmark measurement's peak resident memory is reached: the peak of each stage, in one process.

    python -m src.tools.memory_probe MODEL [--job train|infer] [--side ours|mindcv|timm] [--batch_size 32]
                                     [--image_size 224] [--steps 3] [--model_kwargs JSON]
                                     [--held_outputs host|graph] [--networks N]

Builds what `python -m src.benchmark.worker` builds for `--job` (the same set-up, optimizer, loss and train network,
returning its outputs on the host as train.py's does; inference in the deployed form) and prints the peak RSS (MiB)
of each stage: imports, building the network, compiling the graph, and each step, the peak reset between stages
(Linux: /proc/self/clear_refs). Each step's output is held while the next runs, as ms.Model holds it;
`--held_outputs graph` holds the graph's own output tensors, as a plain ms.Model did (docs/performance.md,
Memory). `--side mindcv` runs MindCV's network of that name in the same train network (MindCV installed), for a
comparison on the same MindSpore; `--side timm` the benchmark's timm + PyTorch reference for MODEL
(benchmark/reference.py; eager, so no compile stage), for where each framework's memory goes. `--model_kwargs`
passes options to our create_model (e.g. '{"act": "relu"}'). docs/performance.md (Memory) lists what these stages
showed. Each stage's line gives its peak and what stayed resident at its end (VmRSS). `--networks N` builds and
compiles N networks in turn (each a fresh instance; the steps run on the last): what the first compile leaves
resident beyond the later ones is the framework's one-time state, not the graph's.
"""
import argparse
import json
import sys

import numpy as np

from ..cli import run_main

PROG = "python -m src.tools.memory_probe"


def _status() -> dict:
    """VmHWM (the peak since the last reset) and VmRSS of this process, MiB."""
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                values[key] = int(value.split()[0]) // 1024
    return values


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


class Stages:
    """The peak of each stage: `end(name)` records (name, the peak since the previous stage, the resident memory
    now) and resets the peak."""

    def __init__(self):
        self.peaks = []

    def end(self, name: str) -> None:
        status = _status()
        self.peaks.append((name, status["VmHWM"], status["VmRSS"]))
        _reset_peak()


def _network(args):
    if args.side == "mindcv":
        import mindcv
        return mindcv.create_model(args.model, num_classes=1000)
    from ..benchmark.ours import create_network
    if not args.model_kwargs:
        return create_network(args.model, args.image_size)
    from ..models import create_model
    return create_model(args.model, num_classes=1000, image_size=args.image_size, **json.loads(args.model_kwargs))


def _runner(args, net, images, labels):
    """The cell and inputs the worker runs: its train network, or the deployed network."""
    import mindspore as ms
    from ..benchmark import ours
    if args.job == "infer":
        if args.side == "ours":
            from ..models import deploy_form
            deploy_form(net)
        net.set_train(False)
        return net, (images,)
    from ..engine.loss import create_loss
    from ..engine.optim import create_optimizer
    from ..engine.trainer import HostOutputs
    optimizer = create_optimizer(net, np.full(args.steps + 1, ours.LEARNING_RATE, np.float32), name="momentum",
                                 momentum=ours.MOMENTUM, weight_decay=ours.WEIGHT_DECAY)
    train_net = ms.amp.build_train_network(net, optimizer, create_loss(ours.LABEL_SMOOTHING, 1000), level="O0")
    train_net.set_train(True)
    return (HostOutputs(train_net) if args.held_outputs == "host" else train_net), (images, labels)


def _probe_timm(args, stages: Stages) -> list:
    """The benchmark's timm + PyTorch side of the same work (its reference network for `args.model`, eager: no
    compile stage), in the environment the benchmark's worker gives it (without the package's defaults for
    MindSpore)."""
    from .. import clear_package_defaults
    from ..benchmark import reference_model
    from ..benchmark.reference import import_torch, infer_runner, train_runner
    name, note = reference_model(args.model)
    if name is None:
        raise ValueError(f"--side timm: no timm reference for '{args.model}' ({note})")
    clear_package_defaults()  # read by OpenMP and oneDNN when torch loads and at the first primitive, after this
    timm, torch = import_torch(0)
    stages.end("imports and set-up")
    runner = infer_runner if args.job == "infer" else train_runner
    _, step = runner(timm, torch, name, args.batch_size, args.image_size)
    stages.end("network built")
    held = None
    for index in range(args.steps):
        held = step()  # held while the next step runs, as on our side
        stages.end(f"step {index + 1}")
    del held
    return stages.peaks


def probe(args) -> list:
    """[(stage, peak MiB)] of one measurement."""
    stages = Stages()
    if args.side == "timm":
        return _probe_timm(args, stages)
    from ..benchmark import ours
    from ..runtime import compile_first
    ours._setup("auto", 0)
    stages.end("imports and set-up")
    images, labels = ours._inputs(args.batch_size, args.image_size, 1000)
    kept = []  # the networks built before the last stay alive, as their graphs do
    for index in range(args.networks):
        suffix = f" {index + 1}" if args.networks > 1 else ""
        runner, inputs = _runner(args, _network(args), images, labels)
        stages.end(f"network{suffix} built")
        compile_first(runner, inputs)  # as the trainer, evaluation and prediction compile
        stages.end(f"graph{suffix} compiled")
        kept.append(runner)
    for step in range(args.steps):
        out = runner(*inputs)
        (out[0] if isinstance(out, tuple) else out).asnumpy()
        stages.end(f"step {step + 1}")
    return stages.peaks


def parse_args(argv):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("--job", choices=("train", "infer"), default="train")
    parser.add_argument("--side", choices=("ours", "mindcv", "timm"), default="ours")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--model_kwargs", default="")
    parser.add_argument("--networks", type=int, default=1,
                        help="networks built and compiled in turn before the steps (the steps run on the last)")
    parser.add_argument("--held_outputs", choices=("host", "graph"), default=None,
                        help="train: what is held of a step's outputs while the next runs: host copies (train.py's "
                             "HostOutputs) or the graph's own output tensors (plain ms.Model)")
    args = parser.parse_args(argv)
    if args.held_outputs is not None and args.job != "train":
        parser.error(f"--held_outputs {args.held_outputs} is about training steps; --job {args.job} holds no "
                     f"train network's outputs")
    if args.held_outputs == "graph" and args.side == "timm":
        parser.error("--held_outputs graph is about MindSpore's graph outputs; --side timm runs PyTorch")
    if args.model_kwargs and args.side != "ours":
        parser.error(f"--model_kwargs {args.model_kwargs} configures our create_model; --side {args.side} builds "
                     f"{'MindCV' if args.side == 'mindcv' else 'timm'}'s network")
    if args.networks < 1:
        parser.error(f"--networks {args.networks}: expected a count of at least 1")
    if args.networks > 1 and args.side == "timm":
        parser.error(f"--networks {args.networks} compares compiled graphs; --side timm runs PyTorch eagerly")
    args.held_outputs = args.held_outputs or "host"
    return args


def report(args) -> int:
    peaks = probe(args)
    print(f"{args.side} {args.model} {args.job}, batch {args.batch_size}, {args.image_size}x{args.image_size}")
    for name, peak, resident in peaks:
        print(f"  {name:<20} peak {peak:6d} MiB, resident after {resident:6d} MiB")
    print(f"  {'whole process':<20} peak {max(p for _, p, _ in peaks):6d} MiB")
    return 0


def main(argv=None) -> int:
    return run_main(PROG, parse_args, report, argv)


if __name__ == "__main__":
    sys.exit(main())
