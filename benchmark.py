"""Speed and memory of the zoo's networks on this machine, optionally side by side with timm + PyTorch.

    python benchmark.py [--bench infer|train|both|data] [--model NAME[,NAME|PATTERN ...]] [--model_list FILE]
                        [--batch_size 32] [--image_size 224] [--warmup 3] [--iters 10] [--repeats 1]
                        [--amp_level O0] [--device_target auto] [--num_threads 0]
                        [--reference timm] [--backend mindspore|onnxruntime] [--results_file out.csv]
                        [--data_path DIR] [--num_workers 0] [--pretrained [TAG|PATH] | --checkpoint_path CKPT]

Every measurement runs in a fresh process, so the peak resident memory reported is that model's own. `infer` times
eval-mode forward passes, `train` training steps (forward + backward + Momentum update, the train network
`ms.Model` builds at the amp level), both in graph mode on one batch held in memory. `--reference timm` runs the same
work with timm + PyTorch (the same batch and image size, Momentum SGD, torch threads = the cores) in its own
process, alternating with ours (ours, timm, ours, timm, ... over `--repeats`), and reports medians and the ratios.
`--backend onnxruntime` times our ONNX export (export_model) under onnxruntime, and with `--reference timm` timm's
own export (torch.onnx.export) too. `--bench data` times the training and evaluation input pipelines over a folder
of JPEGs (`--data_path` with train/ and val/, or a generated one), and with `--reference timm` timm's pipeline.
`--pretrained` (published weights, fetched as eval.py fetches them) or `--checkpoint_path` times the network a
checkpoint holds, with its class count, instead of a randomly initialised one of --model.
"""
import importlib.util
import os
import platform
import shutil
import sys
import tempfile

from src import CPU_ISA_VARIABLE, WAIT_POLICY_VARIABLE, user_settings
from src.benchmark import WorkerError, reference_model, run_worker
from src.benchmark.runner import ROOT
from src.benchmark.report import Row, format_table, parse_reference_map, write_csv
from src.cli import run_main
from src.config import BENCH, parse_config
from src.outputs import check_output_file
from src.weights.cli import expand_pretrained

PROG = "benchmark.py"
DEFAULT_MODELS = ("ghostnet_100", "ghostnet_600m", "mobilenet_v1_100", "genet_res50_theta_minus", "ghostnet_d_101")


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_models(patterns, model_list: str):
    """Our model names from --model values (names, patterns, comma lists) and a --model_list file, in order."""
    from src.models import check_model_name, list_models
    items = [part.strip() for value in patterns for part in value.split(",") if part.strip()]
    if model_list:
        if not os.path.isfile(model_list):
            raise FileNotFoundError(f"--model_list file '{model_list}' does not exist")
        with open(model_list) as f:
            items += [line.split("#")[0].strip() for line in f if line.split("#")[0].strip()]
    if not items:
        items = list(DEFAULT_MODELS)
    names = []
    for item in items:
        if any(c in item for c in "*?["):
            matched = list_models(item)
            if not matched:
                raise ValueError(f"no model matches '{item}'; known: {', '.join(list_models())}")
        else:
            check_model_name(item)
            matched = [item]
        names += [n for n in matched if n not in names]
    return names


def check_args(args) -> None:
    """Refuse contradicting values and missing packages before anything runs (each value's own range is checked
    by the configuration)."""
    if args.backend == "onnxruntime":
        if args.bench in ("train", "both", "data"):
            raise ValueError(f"--backend onnxruntime times inference only; use --bench infer (got --bench "
                             f"{args.bench})")
        if importlib.util.find_spec("onnxruntime") is None:
            raise ValueError("--backend onnxruntime needs onnxruntime: pip install -r requirements.txt")
    if args.results_file:
        check_output_file(args.results_file, "--results_file")
    if args.baseline and not os.path.isfile(os.path.join(args.baseline, "src", "benchmark", "worker.py")):
        raise FileNotFoundError(f"--baseline '{args.baseline}' is not a checkout of this repository with the "
                                f"benchmark (no src/benchmark/worker.py in it)")
    if args.reference == "timm":
        missing = [m for m in ("torch", "timm") if importlib.util.find_spec(m) is None]
        if missing:
            raise ValueError(f"--reference timm needs {' and '.join(missing)}: pip install -r requirements-dev.txt")
        if args.amp_level != "O0":
            raise ValueError(f"--reference timm compares float32 work; use --amp_level O0 (got {args.amp_level})")


def _version(module: str) -> str:
    from importlib import metadata
    try:
        return metadata.version(module)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_lines(args, threads: int) -> list:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    lines = [f"machine: {cpu}, {available_cores()} cores available, {platform.system()} {platform.release()}, "
             f"Python {platform.python_version()}",
             f"MindSpore {_version('mindspore')}, {CPU_ISA_VARIABLE}={os.environ.get(CPU_ISA_VARIABLE, '')} "
             f"{WAIT_POLICY_VARIABLE}={os.environ.get(WAIT_POLICY_VARIABLE, '')} (set by `import src` unless already "
             f"set; MindSpore's oneDNN picks a slow reference kernel for depthwise convolutions on AVX-512 without "
             f"the first, our kernels' threads would spin on MindSpore's cores without the second)"]
    if args.reference == "timm":
        user = user_settings()
        isa = args.reference_onednn_isa or user[CPU_ISA_VARIABLE] or "unset: oneDNN's default instruction set"
        policy = user[WAIT_POLICY_VARIABLE] or "unset: OpenMP's default"
        lines.append(f"reference: timm {_version('timm')} + PyTorch {_version('torch')}, {CPU_ISA_VARIABLE} {isa}, "
                     f"{WAIT_POLICY_VARIABLE} {policy} in its processes, torch threads {threads}")
    if args.backend == "onnxruntime" or args.reference == "timm" and args.bench != "data":
        lines.append(f"onnxruntime {_version('onnxruntime')}")
    lines.append(f"batch {args.batch_size}, image {args.image_size}x{args.image_size}, warm-up {args.warmup}, "
                 f"timed steps {args.iters}, repeats {args.repeats}, amp {args.amp_level}, threads {threads}; "
                 f"graph mode, in-memory data")
    return lines


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _measure(row: Row, spec: dict, side: str, args, root: str = "") -> None:
    """Run one measurement of `side` (ours, timm, baseline) and add its result (or its error) to `row`; `root`:
    the checkout whose worker runs it (default: the baseline's for the baseline, else this one)."""
    root = root or (args.baseline if side == "baseline" else ROOT)
    try:
        result = run_worker(dict(spec, framework="timm" if side == "timm" else "ours"), args.timeout or None, root)
    except WorkerError as e:
        row.errors.append(("" if side == "ours" else f"{side}: ") + str(e).splitlines()[0])
        _note(f"  failed: {e}")
        return
    row.runs[side].append(result)
    _note(f"  {side:8s} {row.model} {row.bench} ({spec.get('model') or row.backend}): {result['img_s']:.1f} img/s, "
          f"peak RSS {result['peak_rss_mb']:.0f} MB")


def sides_of(row: Row, args):
    """(side, model name) pairs that a row measures, in the order they alternate."""
    pairs = [("ours", row.model)]
    if args.baseline:
        pairs.append(("baseline", row.model))
    if row.ref_model:
        pairs.append(("timm", row.ref_model))
    return pairs


def network_rows(args, models, overrides, threads: int, workdir: str):
    """Time every model and bench (alternating ours, the baseline and the reference over the repeats); the rows."""
    benches = ["infer", "train"] if args.bench == "both" else [args.bench]
    rows = []
    for model in models:
        ref, note = reference_model(model, overrides) if args.reference == "timm" else (None, "")
        for bench in benches:
            rows.append(Row(model, bench, args.backend, ref, note))
    base = dict(batch_size=args.batch_size, image_size=args.image_size, warmup=args.warmup, iters=args.iters,
                num_threads=threads, device_target=args.device_target, amp_level=args.amp_level,
                onednn_isa=args.reference_onednn_isa, checkpoint=os.path.abspath(args.checkpoint_path)
                if args.checkpoint_path else "")
    files = {}
    if args.backend == "onnxruntime":
        for row in rows:
            for side, name in sides_of(row, args):
                if (side, name) in files:
                    continue
                path = os.path.join(workdir, f"{side}_{name}.onnx")
                spec = dict(base, job="export", framework="timm" if side == "timm" else "ours", model=name, path=path)
                try:
                    files[(side, name)] = run_worker(spec, args.timeout or None,
                                                     args.baseline if side == "baseline" else ROOT)["path"]
                except WorkerError as e:
                    row.errors.append(f"{side} export: {str(e).splitlines()[0]}")
                    _note(f"  failed: {e}")
    for repeat in range(args.repeats):
        _note(f"run {repeat + 1} of {args.repeats}")
        for row in rows:
            for side, name in sides_of(row, args):
                if args.backend == "onnxruntime":
                    if (side, name) not in files:
                        continue
                    # the timing process is the same for every side: only the exported file differs
                    spec = dict(base, job="onnx", model=name, path=files[(side, name)])
                    _measure(row, spec, side, args, root=ROOT)
                else:
                    _measure(row, dict(base, job=row.bench, model=name), side, args)
    return rows


def data_rows(args, models, threads: int, workdir: str):
    """Images/s of the training and evaluation pipelines (with the first model's preprocessing)."""
    from src.benchmark.pipeline import generate_images
    from src.models import get_default_cfg
    workers = args.num_workers or threads
    if args.data_path:
        root = args.data_path
        if not os.path.isdir(root):
            raise FileNotFoundError(f"--data_path '{root}' does not exist")
    else:
        per_class = max(1, args.data_images // 8)
        _note(f"generating {per_class * 8} JPEGs of {args.data_image_size}x{args.data_image_size} per split")
        root = generate_images(os.path.join(workdir, "images"), args.data_image_size, per_class)
    model = models[0]
    cfg = get_default_cfg(model)
    ref = "timm pipeline" if args.reference == "timm" else None
    rows = [Row(model, f"data-{split}", "mindspore.dataset", ref) for split in ("train", "val")]
    for repeat in range(args.repeats):
        _note(f"run {repeat + 1} of {args.repeats}")
        for row in rows:
            split = row.bench.split("-", 1)[1]
            spec = dict(job="data", data_path=root, split=split, model=model, batch_size=args.batch_size,
                        image_size=args.image_size, num_workers=workers, crop_pct=cfg.crop_fraction)
            for side, _ in sides_of(row, args):
                _measure(row, spec, side, args)
    return rows


def checkpoint_models(args):
    """The one model a --checkpoint_path (or --pretrained) holds; a --model or list that says otherwise is refused."""
    if args.bench == "data":
        raise ValueError("--bench data times the input pipeline, not a network: drop --checkpoint_path/--pretrained")
    if args.model_list or any(c in args.model for c in ",*?["):
        given = f"--model_list {args.model_list}" if args.model_list else f"--model {args.model}"
        raise ValueError(f"--checkpoint_path '{args.checkpoint_path}' holds one network: drop {given}, or name "
                         f"just that network with --model")
    if not os.path.isfile(args.checkpoint_path):
        raise FileNotFoundError(f"--checkpoint_path '{args.checkpoint_path}' does not exist")
    from src.engine.checkpoint import open_checkpoint
    return [open_checkpoint(args.checkpoint_path, args.model or None).model]


def run(args) -> int:
    check_args(args)
    if args.checkpoint_path:
        models = checkpoint_models(args)
    else:
        models = resolve_models([args.model] if args.model else [], args.model_list)
    overrides = parse_reference_map(args.reference_map)
    threads = args.num_threads or available_cores()
    for line in machine_lines(args, threads):
        print(line)
    if args.checkpoint_path:
        print(f"weights: {args.checkpoint_path} ({models[0]})")
    workdir = tempfile.mkdtemp(prefix="ghostzoo_bench_")
    try:
        if args.bench == "data":
            rows = data_rows(args, models, threads, workdir)
        else:
            rows = network_rows(args, models, overrides, threads, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summaries = [row.summary() for row in rows]
    print(format_table(summaries, args.reference == "timm", bool(args.baseline)))
    if args.results_file:
        write_csv(summaries, args.results_file)
        print(f"results written to {args.results_file}")
    failed = [row for row in rows if row.errors]
    if failed:
        print(f"{len(failed)} of {len(rows)} rows had failures (see the note column)", file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    return run_main(PROG, lambda args: parse_config(expand_pretrained(args, "--checkpoint_path"), PROG,
                                                    __doc__.splitlines()[0], script=BENCH)[0], run, argv)


if __name__ == "__main__":
    sys.exit(main())
