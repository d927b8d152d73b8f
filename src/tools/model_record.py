"""Show the model record a checkpoint or an exported file carries (model, classes, preprocessing, data).

    python -m src.tools.model_record FILE.ckpt|FILE.onnx|FILE.mindir [--harness_args]

--harness_args prints the preprocessing as the C++ harness's flags (`--image_size=224 --resize_size=256
--mean=R,G,B --std=R,G,B`), for scripts/run_infer_310.sh; a file without a record gives ImageNet's defaults there.
"""
import argparse
import json
import sys

from ..cli import run_main
from ..data.preprocessing import resolve_preprocessing
from ..models import DefaultCfg
from ..deploy import read_file_record
from ..engine.checkpoint import open_checkpoint


def harness_args(preprocessing) -> str:
    def triple(values):
        return ",".join(f"{v:g}" for v in values)
    return (f"--image_size={preprocessing.image_size} --resize_size={preprocessing.eval_resize} "
            f"--mean={triple(preprocessing.mean)} --std={triple(preprocessing.std)}")


def _run(args) -> int:
    if args.path.endswith(".ckpt"):
        opened = open_checkpoint(args.path)
        record, summary = opened.record, f"{opened.model}, {opened.num_classes} classes ({opened.how})"
    else:
        record = read_file_record(args.path)
        summary = f"{record.model}, {record.num_classes} classes" if record else "no model record"
    if args.harness_args:
        if record is None:
            print(harness_args(resolve_preprocessing(DefaultCfg())))
        else:
            print(harness_args(record.preprocessing))
        return 0
    print(summary)
    if record is not None:
        print(json.dumps({k: v for k, v in record.to_dict().items() if k != "config"}, indent=2))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}.model_record", description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--harness_args", action="store_true")
    return run_main("model_record", parser.parse_args, _run, argv)


if __name__ == "__main__":
    sys.exit(main())
