"""How far apart two checkpoints of one network are, measured against the training update that produced them.

    python -m src.tools.compare_checkpoints RUN_A.ckpt RUN_B.ckpt --start START.ckpt

With --start (the checkpoint both runs continued from, e.g. the previous epoch of run A) it prints
||B - A|| / ||A - start|| over the trainable weights (BN gamma/beta, conv and dense weights; the BN running
statistics are compared separately), and the cosine between the two runs' updates. Without it, the largest
absolute difference and the difference relative to ||A||. Used to check a distributed run against a one-process
run (tests/e2e/test_launchers.py, docs/distributed.md).
"""
import argparse
import sys
from typing import Dict, Optional

import numpy as np

from ..cli import run_main
from ..engine.checkpoint import read_checkpoint, split_training_state

RUNNING = ("moving_mean", "moving_variance")
BOOKKEEPING = ("epoch_num", "step_num", "global_step", "top_1_accuracy")


def read_weights(path: str) -> Dict[str, np.ndarray]:
    params, _ = split_training_state(read_checkpoint(path))
    return {k: v.asnumpy().astype(np.float64) for k, v in params.items() if k not in BOOKKEEPING}


def compare(a: Dict[str, np.ndarray], b: Dict[str, np.ndarray], start: Optional[Dict[str, np.ndarray]] = None
            ) -> Dict[str, float]:
    """Differences between weight dicts `a` and `b` (same names and shapes), optionally relative to the update
    `a - start`."""
    if set(a) != set(b):
        raise ValueError(f"the checkpoints hold different parameters: {sorted(set(a) ^ set(b))[:5]}")
    if start is not None and set(start) != set(a):
        raise ValueError(f"the start checkpoint holds other parameters: {sorted(set(a) ^ set(start))[:5]}")
    for name, other in (("the second", b), ("the start", start if start is not None else a)):
        shapes = [k for k in a if a[k].shape != other[k].shape]
        if shapes:
            raise ValueError(f"{name} checkpoint has other shapes: {shapes[0]} is {other[shapes[0]].shape}, not "
                             f"{a[shapes[0]].shape} (another model or class count?)")
    weights = sorted(k for k in a if not k.endswith(RUNNING))
    running = sorted(k for k in a if k.endswith(RUNNING))
    flat = lambda d, keys: np.concatenate([d[k].ravel() for k in keys]) if keys else np.zeros(0)  # noqa: E731
    wa, wb = flat(a, weights), flat(b, weights)
    out = {"max_abs_difference": float(np.max(np.abs(wa - wb))),
           "relative_to_weights": float(np.linalg.norm(wb - wa) / max(np.linalg.norm(wa), 1e-30)),
           "bn_statistics_max_abs_difference": float(np.max(np.abs(flat(a, running) - flat(b, running))))
           if running else 0.0}
    if start is not None:
        ws = flat(start, weights)
        update_a, update_b = wa - ws, wb - ws
        size = np.linalg.norm(update_a)
        if size == 0:
            raise ValueError("the first checkpoint equals the start: there is no update to compare against")
        out["update_norm"] = float(size)
        out["relative_to_update"] = float(np.linalg.norm(wb - wa) / size)
        out["update_cosine"] = float(update_a @ update_b / max(size * np.linalg.norm(update_b), 1e-30))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}.compare_checkpoints", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--start", default="", help="the checkpoint both runs started the compared update from")

    def body(args) -> int:
        result = compare(read_weights(args.a), read_weights(args.b),
                         read_weights(args.start) if args.start else None)
        for key, value in result.items():
            print(f"{key}: {value:.3g}")
        return 0
    return run_main("compare_checkpoints", parser.parse_args, body, argv)


if __name__ == "__main__":
    sys.exit(main())
