"""Evaluate a checkpoint: `python eval.py --config configs/X.yaml --data_path DIR --checkpoint_path CKPT`.

Prints the model zoo's line `result: {'top_1_accuracy': ..., 'top_5_accuracy': ...} ckpt=...` over every image.
"""
import sys

from src.cli import run_main


def _eval(cfg) -> int:
    from src.inference import run_evaluation
    run_evaluation(cfg)
    return 0


def main(argv=None) -> int:
    return run_main("eval.py", "Score a checkpoint (top-1 / top-5) over every image of the validation split.",
                    _eval, argv)


if __name__ == "__main__":
    sys.exit(main())
