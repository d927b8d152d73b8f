"""Stopping a training run on SIGTERM or SIGINT (Ctrl-C) at the end of a step, with a checkpoint that resumes
exactly there.

A cluster sends SIGTERM before it preempts a job. The first SIGTERM or SIGINT is noted (and logged); at the end of
the current step the ranks agree (one all-reduce of two numbers per step, when distributed) so that every rank
stops after the same step; rank 0 writes the train network, the step within the epoch and the EMA, the ranks meet
once more (a launcher that sees one rank end may kill the others), and the run ends with `TrainingInterrupted`,
whose exit status is the conventional 128 + signal number (143 for SIGTERM, 130 for SIGINT). Resuming from that
checkpoint skips the batches of the epoch already trained; their augmentations are still drawn, so every later
batch is the one the uninterrupted run drew (see Trainer.fit). A second signal stops at once.
"""
import contextlib
import os
import shlex
import signal
import sys
from typing import Callable, Optional

import numpy as np
from mindspore.train.callback import Callback

from ..runtime import LOG

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrainingInterrupted(KeyboardInterrupt):
    """The run stopped on a signal; `exit_status` is 128 + the signal number, `summary` the line for the user."""

    def __init__(self, signum: int, summary: str):
        super().__init__(summary)
        self.exit_status = 128 + int(signum)
        self.summary = summary


def resume_command(checkpoint: str, argv=None) -> str:
    """This process's command line with `--resume checkpoint` (replacing a --resume it had)."""
    argv = list(sys.argv if argv is None else argv)
    kept, skip = [], False
    for arg in argv[1:]:
        if skip:
            skip = False
        elif arg == "--resume":
            skip = True
        elif not arg.startswith("--resume="):
            kept.append(arg)
    script = argv[0] if argv and argv[0] else "train.py"
    if os.path.isabs(script) and not os.path.relpath(script).startswith(".."):
        script = os.path.relpath(script)  # a script under the current folder, as it is usually run
    return shlex.join(["python", script] + kept + ["--resume", checkpoint])


class StopOnSignal(Callback):
    """Place it after the EMA update, whose state it saves; wrap the training in `watching()`, which installs the
    signal handlers and restores the earlier ones.

    steps_per_epoch: the batches of an epoch. save(cb, epochs_done, step_in_epoch) -> the checkpoint path, on rank 0
    (None elsewhere). agree(values) -> their sum over the ranks (None in a one-process run)."""

    def __init__(self, steps_per_epoch: int, save: Optional[Callable] = None, agree: Optional[Callable] = None,
                 distributed_hint: str = ""):
        super().__init__()
        self.steps = steps_per_epoch
        self.save = save
        self.agree = agree
        self.distributed_hint = distributed_hint
        self.received: Optional[int] = None
        self._previous = {}

    @contextlib.contextmanager
    def watching(self):
        """Catch SIGTERM and SIGINT for the body (the whole training: every epoch and the time between them)."""
        self._install()
        try:
            yield self
        finally:
            self._restore()
        if self.received is not None:
            LOG.info(f"{signal.Signals(self.received).name} came after the last step: the run is complete")

    def _install(self) -> None:
        for sig in STOP_SIGNALS:
            previous = signal.getsignal(sig)
            if sig == signal.SIGINT and previous == signal.SIG_IGN:
                continue  # a background job (nohup, `cmd &`) ignores Ctrl-C of its terminal: keep it so
            try:
                signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: signals cannot be caught here
                continue
            self._previous[sig] = previous

    def _restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}

    def _handle(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if self.received is not None:  # a second signal: stop now, keeping the checkpoints written so far
            self._restore()
            raise TrainingInterrupted(signum, f"stopped at once by a second {name}; the last saved checkpoint is "
                                              f"kept and can be resumed")
        self.received = signum
        LOG.info(f"received {name}: stopping at the end of the current step (send it again to stop at once)")

    def _agreed_signal(self) -> Optional[int]:
        """The signal this rank or any other received, the same on every rank (SIGTERM over SIGINT)."""
        mine = np.array([self.received == signal.SIGTERM, self.received == signal.SIGINT], np.float32)
        seen = self.agree(mine) if self.agree is not None else mine
        if seen[0] > 0:
            return int(signal.SIGTERM)
        return int(signal.SIGINT) if seen[1] > 0 else None

    def on_train_step_end(self, run_context):
        signum = self._agreed_signal()
        if signum is None:
            return
        cb = run_context.original_args()
        global_step = int(cb.optimizer.global_step.asnumpy().reshape(-1)[0])
        epochs_done, in_epoch = divmod(global_step, self.steps)
        path = self.save(cb, epochs_done, in_epoch) if self.save is not None else None
        if self.agree is not None:
            self.agree(np.zeros(1, np.float32))  # every rank waits until rank 0 has written
        where = (f"after step {in_epoch} of {self.steps} of epoch {epochs_done + 1}" if in_epoch else
                 f"at the end of epoch {epochs_done}")
        name = signal.Signals(signum).name
        if path:
            LOG.info(f"{name}: stopped {where} (global step {global_step}); wrote {path}, which resumes exactly "
                     f"there")
            LOG.info(f"to resume{self.distributed_hint}: {resume_command(path)}")
        raise TrainingInterrupted(signum, f"stopped by {name} {where} (global step {global_step})" +
                                  (f"; resume with --resume {path}" if path else ""))
