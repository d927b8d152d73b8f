"""MindCV's name for eval.py: `python validate.py -c configs/X.yaml --data_dir DIR --ckpt_path CKPT`.

The same evaluation as eval.py (every key and alias of it works: -c / --config, --data_dir / --data_path,
--ckpt_path / --checkpoint_path), printing the same `result: {...}` line.
"""
import sys

import eval as eval_script
from src.cli import run_main
from src.config import EVAL, parse_config
from src.weights.cli import expand_pretrained

PROG = "validate.py"


def main(argv=None) -> int:
    def body(parsed) -> int:
        eval_script.evaluate_checkpoint(parsed[0])
        return 0
    def parse(args):
        return parse_config(expand_pretrained(args, "--checkpoint_path"), PROG, eval_script.DESCRIPTION, script=EVAL)
    return run_main(PROG, parse, body, argv)


if __name__ == "__main__":
    sys.exit(main())
