"""One measurement in its own process: `python -m src.benchmark.worker 'JSON spec'`.

The spec names a job (infer, train, export, onnx, data) and a framework (ours: MindSpore, timm: timm + PyTorch);
the result is printed as one line `BENCH_RESULT {json}`; a user error as `BENCH_ERROR message` (exit status 2).
A PyTorch or onnxruntime process gets the environment without what `import src` sets for MindSpore (the AVX2 cap
on oneDNN, OpenMP's passive wait policy: PyTorch's oneDNN and OpenMP would read them too), the user's own settings
kept, and the oneDNN instruction set the spec names (`onednn_isa`), if any.
"""
import json
import os
import sys

from .. import CPU_ISA_VARIABLE, clear_package_defaults

RESULT_PREFIX = "BENCH_RESULT "
ERROR_PREFIX = "BENCH_ERROR "
JOBS = ("infer", "train", "export", "onnx", "data")
FRAMEWORKS = ("ours", "timm")


def _reference_environment(spec: dict) -> None:
    """PyTorch and onnxruntime processes: the environment without the package's defaults for MindSpore, and the
    oneDNN instruction set the spec asks for, if any."""
    if spec.get("framework") == "timm" or spec["job"] == "onnx":
        clear_package_defaults()
        if spec.get("onednn_isa"):
            os.environ[CPU_ISA_VARIABLE] = spec["onednn_isa"]


def run_job(spec: dict) -> dict:
    """Dispatch one spec to the function that measures it."""
    job, framework = spec.get("job"), spec.get("framework", "ours")
    if job not in JOBS:
        raise ValueError(f"unknown benchmark job '{job}'; expected one of {', '.join(JOBS)}")
    if framework not in FRAMEWORKS:
        raise ValueError(f"unknown framework '{framework}'; expected one of {', '.join(FRAMEWORKS)}")
    _reference_environment(spec)
    timing = {k: spec[k] for k in ("batch_size", "image_size", "warmup", "iters") if k in spec}
    threads = spec.get("num_threads", 0)
    if job == "onnx":
        from .onnx_timing import bench_onnx
        return bench_onnx(spec["path"], num_threads=threads, **timing)
    if job == "data":
        from . import pipeline
        common = dict(data_path=spec["data_path"], split=spec["split"], batch_size=spec["batch_size"],
                      image_size=spec["image_size"], num_workers=spec["num_workers"])
        if framework == "timm":
            return pipeline.bench_reference(crop_pct=spec.get("crop_pct", 0.875), **common)
        return pipeline.bench_ours(model=spec["model"], **common)
    if framework == "timm":
        from . import reference
        if job == "export":
            return reference.export_onnx(spec["model"], spec["path"], spec["batch_size"], spec["image_size"])
        fn = reference.bench_infer if job == "infer" else reference.bench_train
        return fn(spec["model"], num_threads=threads, **timing)
    from . import ours
    if job == "export":
        return ours.export_onnx(spec["model"], spec["path"], spec["batch_size"], spec["image_size"],
                                spec.get("device_target", "auto"), spec.get("checkpoint", ""))
    fn = ours.bench_infer if job == "infer" else ours.bench_train
    return fn(spec["model"], amp_level=spec.get("amp_level", "O0"), device_target=spec.get("device_target", "auto"),
              num_threads=threads, checkpoint=spec.get("checkpoint", ""), **timing)


def main(argv=None) -> int:
    from ..cli import USER_ERRORS
    argv = sys.argv[1:] if argv is None else list(argv)
    if len(argv) != 1:
        sys.stderr.write("usage: python -m src.benchmark.worker 'JSON spec'\n")
        return 2
    try:
        spec = json.loads(argv[0])
        result = run_job(spec)
        for key in ("batch_size", "image_size"):
            if key in spec:
                result.setdefault(key, spec[key])
    except (ImportError,) + USER_ERRORS as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(ERROR_PREFIX + str(message).replace("\n", " "), flush=True)
        return 2
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
