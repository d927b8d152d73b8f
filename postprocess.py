"""Accuracy of the inference harness's output: `result_Files/<key>_0.bin` (float32 logits) against a label json.

    python postprocess.py --result_path result_Files --label_path imagenet_label.json

Prints `Total data: N, top1 accuracy: a, top5 accuracy: b.` (or, with --style mobilenetv1, the MobileNetV1 model
zoo's `'top1 acc': a` and `'top5 acc': b`). Every labelled image needs a result file and every result file a label.
"""
import argparse
import json
import os
import sys

import numpy as np

from src.cli import run_main
from src.deploy import RESULT_SUFFIX
from src.engine.evaluation import TopKAccumulator


def score(result_path: str, label_path: str) -> dict:
    if not os.path.isdir(result_path):
        raise FileNotFoundError(f"result folder '{result_path}' does not exist")
    if not os.path.isfile(label_path):
        raise FileNotFoundError(f"label file '{label_path}' does not exist")
    with open(label_path) as f:
        labels = json.load(f)
    files = sorted(n for n in os.listdir(result_path) if n.endswith(RESULT_SUFFIX))
    keys = [n[: -len(RESULT_SUFFIX)] for n in files]
    unknown = [k for k in keys if k not in labels]
    if unknown:
        raise ValueError(f"{len(unknown)} result files have no label in '{label_path}', e.g. "
                         f"'{unknown[0]}{RESULT_SUFFIX}'")
    missing = sorted(set(labels) - set(keys))
    if missing:
        raise FileNotFoundError(f"{len(missing)} labelled images have no result file in '{result_path}', e.g. "
                                f"'{missing[0]}{RESULT_SUFFIX}'")
    if not files:
        raise ValueError(f"no *{RESULT_SUFFIX} files in '{result_path}'")
    logits = [np.fromfile(os.path.join(result_path, n), dtype=np.float32) for n in files]
    sizes = {x.size for x in logits}
    if len(sizes) != 1 or 0 in sizes:
        raise ValueError(f"result files hold different numbers of logits {sorted(sizes)[:5]}: mixed runs?")
    acc = TopKAccumulator()
    acc.update(np.stack(logits), np.array([labels[k] for k in keys]))
    return acc.result()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="postprocess.py", description=__doc__.splitlines()[0])
    parser.add_argument("--result_path", default="result_Files")
    parser.add_argument("--label_path", "--label_file", dest="label_path", required=True)
    parser.add_argument("--style", default="ghostnet", choices=["ghostnet", "mobilenetv1"],
                        help="the model zoo family's acc.log lines: ghostnet `Total data: N, top1 accuracy: a, top5 "
                             "accuracy: b.`; mobilenetv1 `'top1 acc': a` and `'top5 acc': b`")
    return run_main("postprocess.py", parser.parse_args, _run, argv)


def _run(args) -> int:
    result = score(args.result_path, args.label_path)
    if args.style == "mobilenetv1":
        print(f"'top1 acc': {result['top_1_accuracy']}")
        print(f"'top5 acc': {result['top_5_accuracy']}")
    else:
        print(f"Total data: {result['num_samples']}, top1 accuracy: {result['top_1_accuracy']}, "
              f"top5 accuracy: {result['top_5_accuracy']}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
