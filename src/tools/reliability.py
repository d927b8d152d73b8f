"""Fault storm: random SIGKILLs of a training run with resumes, and a catalogue of bad inputs.

    python -m src.tools.reliability [--kills 30] [--part kills|inputs|both] [--workdir DIR] [--seed 0]

Kills: the quickstart recipe at 32x32 (6 generated classes, 60 training images each, batch 32, a checkpoint every
epoch, dropout off) runs once without interruption, then again under a storm: each process is killed with
SIGKILL at a random moment within its first 1.5 epochs of logged steps (every third kill instead waits for a
checkpoint write to start and kills during it) and the next process resumes from the newest checkpoint, until
the run completes. Reported: kills survived (the next resume worked), the steps each kill lost (last step logged
minus the newest checkpoint's step), whether every checkpoint left behind loads and no temp file survives a
restart, and the largest difference between the stormed run's final checkpoint and the uninterrupted run's
(0.0: bitwise equal).

Inputs: the catalogue of bad inputs in reliability_inputs.py, each outcome classified (clear error, traceback,
crash, accepted). docs/reliability.md shows this tool's output.
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from typing import Callable, Dict, List, Tuple

from ..cli import run_main
from .reliability_inputs import ROOT, subprocess_env, bad_inputs

STEP_LINE = re.compile(r"epoch: (\d+) step: \[?(\d+)(?:/\d+\])?[,:]")
STORM_ARGS = ["--config", os.path.join(ROOT, "configs", "quickstart.yaml"), "--image_size", "32",
              "--eval_resize", "32", "--synthetic_image_size", "32", "--synthetic_train_per_class", "60",
              "--synthetic_val_per_class", "10", "--save_checkpoint_epochs", "1", "--keep_checkpoint_max", "3",
              "--drop_rate", "0", "--log_interval", "1", "--eval_interval", "2"]


def _train(args: List[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py")] + args, cwd=ROOT, env=subprocess_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kwargs)


def _checkpoints(ckpt_dir: str, model: str) -> List[Tuple[int, str]]:
    from ..engine.run_files import periodic_checkpoints
    return periodic_checkpoints(ckpt_dir, model)


def _global_step(path: str) -> int:
    from ..engine.checkpoint import read_checkpoint
    return int(read_checkpoint(path)["global_step"].asnumpy().reshape(-1)[0])


def _last_logged_step(log_text: str, steps_per_epoch: int) -> int:
    last = 0
    for match in STEP_LINE.finditer(log_text):
        epoch, step = int(match.group(1)), int(match.group(2))
        last = max(last, (epoch - 1) * steps_per_epoch + step)
    return last


def _steps_logged_since(train_log: str, offset: int) -> int:
    """How many training-step lines the log holds past `offset` (those of the current process)."""
    if not os.path.isfile(train_log):
        return 0
    with open(train_log) as f:
        f.seek(offset)
        return len(STEP_LINE.findall(f.read()))


def _max_difference(a_path: str, b_path: str) -> float:
    """The largest absolute difference over every numeric entry of two checkpoints (weights, BN statistics,
    optimizer moments, step counters); inf when they hold other entries. Text entries (the model record, which
    names the run's own folder) are not compared."""
    import numpy as np
    from ..engine.checkpoint import read_checkpoint
    a, b = read_checkpoint(a_path), read_checkpoint(b_path)
    numeric = lambda d: {k: v.asnumpy().astype(np.float64) for k, v in d.items()  # noqa: E731
                         if hasattr(v, "asnumpy")}
    a, b = numeric(a), numeric(b)
    if set(a) != set(b) or any(a[k].shape != b[k].shape for k in a):
        return float("inf")
    return max((float(np.max(np.abs(a[k] - b[k]))) for k in a if a[k].size), default=0.0)


def kill_storm(workdir: str, kills: int, epochs: int, seed: int, log: Callable[[str], None]) -> Dict:
    """Run the storm described in the module docstring; return its figures."""
    rng = random.Random(seed)
    model = "ghostnet_050"
    ref_dir, storm_dir = os.path.join(workdir, "uninterrupted"), os.path.join(workdir, "storm")
    base = STORM_ARGS + ["--data_path", os.path.join(workdir, "data"), "--dataset", "synthetic", "--epoch_size",
                         str(epochs), "--seed", str(seed)]
    start = time.time()
    steps = _reference_run(base, ref_dir, epochs, log)
    ckpt_dir, train_log = os.path.join(storm_dir, "ckpt"), os.path.join(storm_dir, "train.log")
    figures = {"kills": 0, "kills_in_checkpoint_write": 0, "survived": 0, "steps_lost": [], "unreadable": [],
               "temp_files_left_after_restart": 0, "failed_restarts": []}
    final = os.path.join(ckpt_dir, f"{model}-{epochs}_{steps}.ckpt")
    while True:
        found = _checkpoints(ckpt_dir, model)
        if found and found[-1][1] == final:  # killed after its last checkpoint: nothing left to resume
            break
        # with no checkpoint yet the restart is a new run into the killed run's folder, which must be asked for
        resume = ["--resume", found[-1][1]] if found else ["--overwrite", "true"]
        temp_before = [n for n in os.listdir(ckpt_dir) if ".tmp" in n] if os.path.isdir(ckpt_dir) else []
        proc = _train(base + ["--output_dir", storm_dir] + resume)
        if figures["kills"] >= kills:
            _finish(proc, figures)
            break
        killed_in_write = _wait_for_kill_moment(proc, rng, steps, figures["kills"] % 3 == 2, ckpt_dir, train_log,
                                                temp_before)
        if proc.poll() is not None:  # finished (or failed) before the kill
            _finish(proc, figures)
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _record_kill(figures, killed_in_write, train_log, ckpt_dir, model, steps, log)
    if os.path.isdir(ckpt_dir):
        figures["temp_files_left_after_restart"] = len([n for n in os.listdir(ckpt_dir) if ".tmp" in n])
    figures["survived"] -= len(figures["failed_restarts"])
    reference = os.path.join(ref_dir, "ckpt", f"{model}-{epochs}_{steps}.ckpt")
    figures["completed"] = os.path.isfile(final)
    figures["max_difference_after_resume"] = _max_difference(reference, final) if os.path.isfile(final) else None
    figures["seconds"] = round(time.time() - start)
    return figures


def _reference_run(base: List[str], ref_dir: str, epochs: int, log: Callable[[str], None]) -> int:
    """Train once without interruption; return the steps per epoch."""
    start = time.time()
    ref = _train(base + ["--output_dir", ref_dir])
    _, err = ref.communicate()
    if ref.returncode != 0:
        raise RuntimeError(f"the uninterrupted run failed: {err[-2000:]}")
    steps = int(re.search(r"(\d+) steps of", open(os.path.join(ref_dir, "train.log")).read()).group(1))
    log(f"uninterrupted run: {epochs} epochs of {steps} steps in {time.time() - start:.0f} s")
    return steps


def _finish(proc: subprocess.Popen, figures: Dict) -> None:
    """Let a process run to its end; a failure is a failed restart."""
    _, err = proc.communicate()
    if proc.returncode != 0:
        figures["failed_restarts"].append(err.strip().splitlines()[-1:] or ["?"])


def _wait_for_kill_moment(proc, rng: random.Random, steps: int, in_write: bool, ckpt_dir: str, train_log: str,
                          temp_before: List[str]) -> bool:
    """Wait until the moment to kill `proc` (or its end); whether that moment is during a checkpoint write.

    The moment is counted in this process's own logged steps, not in seconds (start-up and graph compilation vary
    from seconds to minutes with the machine's load, a step from 0.1 to 3 s): after step k of the process, k
    uniform in 1 .. 1.5 epochs, plus a random fraction of a step. `in_write`: as soon as a checkpoint write starts."""
    log_start = os.path.getsize(train_log) if os.path.isfile(train_log) else 0
    kill_after = rng.randint(1, max(1, (3 * steps) // 2))
    extra_wait = rng.uniform(0.0, 0.15)
    deadline = None
    while proc.poll() is None:
        if in_write and os.path.isdir(ckpt_dir) and any(n.endswith((".tmp.ckpt", ".tmp.tmp"))
                                                       and n not in temp_before for n in os.listdir(ckpt_dir)):
            return True
        if not in_write and deadline is None and _steps_logged_since(train_log, log_start) >= kill_after:
            deadline = time.time() + extra_wait
        if deadline is not None and time.time() > deadline:
            return False
        time.sleep(0.005)
    return False


def _record_kill(figures: Dict, killed_in_write: bool, train_log: str, ckpt_dir: str, model: str, steps: int,
                 log: Callable[[str], None]) -> None:
    """Count a kill and the steps it lost (last step logged minus the newest readable checkpoint's step)."""
    figures["kills"] += 1
    figures["kills_in_checkpoint_write"] += int(killed_in_write)
    logged = _last_logged_step(open(train_log).read(), steps) if os.path.isfile(train_log) else 0
    saved = 0
    for _, path in _checkpoints(ckpt_dir, model):
        try:
            saved = max(saved, _global_step(path))
        except ValueError as e:
            figures["unreadable"].append(f"{path}: {e}")
    lost = max(0, logged - saved)
    figures["steps_lost"].append(lost)
    log(f"kill {figures['kills']}{' (during a checkpoint write)' if killed_in_write else ''}: last logged step "
        f"{logged}, newest checkpoint at step {saved}: {lost} steps lost")
    figures["survived"] += 1  # counted back if the next start fails


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}.reliability", description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["kills", "inputs", "both"], default="both")
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=20, help="epochs of the stormed run (the storm ends early "
                        "when the run completes; about 1.5 kills per epoch here)")
    parser.add_argument("--cases", type=int, default=0, help="run only the first N bad inputs (0: all)")
    parser.add_argument("--workdir", default="runs/reliability")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default="", help="also write the figures to this file")
    return run_main("reliability", parser.parse_args, _run, argv)


def _run(args) -> int:
    if args.kills < 0 or args.epochs < 1:
        raise ValueError("--kills must be >= 0 and --epochs >= 1")
    workdir = os.path.abspath(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    figures = {}

    def log(line: str) -> None:
        print(line, flush=True)
    if args.part in ("kills", "both"):
        storm = kill_storm(os.path.join(workdir, "storm"), args.kills, args.epochs, args.seed, log)
        lost = storm["steps_lost"] or [0]
        print(f"kills: {storm['kills']} ({storm['kills_in_checkpoint_write']} during a checkpoint write), survived "
              f"{storm['survived']}, run completed: {storm['completed']}; steps lost per kill: max {max(lost)}, "
              f"mean {sum(lost) / len(lost):.1f}; unreadable checkpoints: {len(storm['unreadable'])}; temp files "
              f"left: {storm['temp_files_left_after_restart']}; max |difference| to the uninterrupted run: "
              f"{storm['max_difference_after_resume']}")
        figures["kills"] = storm
    if args.part in ("inputs", "both"):
        result = bad_inputs(os.path.join(workdir, "inputs"), log, args.cases)
        c = result["counts"]
        print(f"bad inputs: {c['tried']} tried: {c['clear']} clear errors, {c['unclear']} unclear, "
              f"{c['traceback']} tracebacks, {c['crash']} crashes, {c['accepted']} accepted")
        figures["inputs"] = result
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
