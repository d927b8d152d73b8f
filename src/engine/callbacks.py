"""The callbacks of a training run: the model zoo's log lines with throughput and progress, validation that keeps
the best checkpoint, periodic checkpoints with stable names, and the weight EMA's update and save."""
import math
import os
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
from mindspore import nn
from mindspore.train.callback import Callback

from ..outputs import atomic_save_checkpoint
from ..runtime import LOG
from .run_files import ema_name, interrupted_name, periodic_checkpoints, periodic_name
from .ema import WeightEMA, save_ema
from .evaluation import evaluate


class TrainMonitor(Callback):
    """The model zoo's log lines plus throughput and progress:

    `epoch: 1 step: 1251, loss is 5.001419`, `epoch time: ... ms, per step time: ... ms, ... img/s`, and every
    `log_interval` steps `epoch: 1 step: [100/1251], loss: ..., lr: ..., ... img/s, eta ...`.
    """

    def __init__(self, steps_per_epoch: int, batch_size: int, lr: np.ndarray, log_interval: int,
                 total_epochs: int, epoch_time_label: str = "epoch time"):
        super().__init__()
        self.steps = steps_per_epoch
        self.batch_size = batch_size
        self.lr = lr
        self.log_interval = log_interval
        self.total_epochs = total_epochs
        self.epoch_time_label = epoch_time_label  # fine-tuning logs the model zoo's "Train epoch time"
        self.epoch_start = self.interval_start = time.time()
        self.last_loss = float("nan")
        self.last_epoch_ms = float("nan")   # the numbers of the last epoch-time line, for the training report
        self.last_rate = float("nan")
        self.epoch_first_step = 0     # the global step an epoch starts at (a mid-epoch resume runs fewer steps)

    @staticmethod
    def _loss(outputs) -> float:
        if isinstance(outputs, (tuple, list)):
            outputs = outputs[0]
        return float(np.mean(outputs.asnumpy()))

    @staticmethod
    def _global_step(cb) -> int:
        """The optimizer's step counter (it survives a resume; the callback's step count does not)."""
        return int(cb.optimizer.global_step.asnumpy().reshape(-1)[0])

    def on_train_epoch_begin(self, run_context):
        self.epoch_start = self.interval_start = time.time()
        self.epoch_first_step = self._global_step(run_context.original_args())

    def on_train_step_end(self, run_context):
        cb = run_context.original_args()
        step_in_epoch = (self._global_step(cb) - 1) % self.steps + 1  # a mid-epoch resume starts inside an epoch
        loss = self._loss(cb.net_outputs)
        self.last_loss = loss
        if not math.isfinite(loss):
            run_context.request_stop()
            raise FloatingPointError(f"loss is {loss} at epoch {cb.cur_epoch_num} step {step_in_epoch}; lower "
                                     f"lr_max or check the data")
        if self.log_interval and step_in_epoch % self.log_interval == 0 and step_in_epoch < self.steps:
            now = time.time()
            rate = self.log_interval * self.batch_size / max(now - self.interval_start, 1e-9)
            remaining = (self.steps - step_in_epoch) * self.batch_size / rate
            lr = self.lr[min(self._global_step(cb) - 1, len(self.lr) - 1)]
            LOG.info(f"epoch: {cb.cur_epoch_num} step: [{step_in_epoch}/{self.steps}], loss: {loss:.6f}, "
                     f"lr: {lr:.6f}, {rate:.1f} img/s, epoch eta {remaining:.0f} s")
            self.interval_start = now

    def on_train_epoch_end(self, run_context):
        cb = run_context.original_args()
        elapsed = (time.time() - self.epoch_start) * 1000
        steps = max(self._global_step(cb) - self.epoch_first_step, 1)
        per_step = elapsed / steps
        self.last_epoch_ms, self.last_rate = elapsed, steps * self.batch_size / elapsed * 1000
        LOG.info(f"epoch: {cb.cur_epoch_num} step: {self.steps}, loss is {self.last_loss}")
        LOG.info(f"{self.epoch_time_label}: {elapsed:.3f} ms, per step time: {per_step:.3f} ms, "
                 f"{self.last_rate:.1f} img/s")


class ValidateAndKeepBest(Callback):
    """Validate every `interval` epochs (and after the last); keep the best weights as `<model>_best.ckpt`.

    `best`: the (top-1, epoch) a resumed run read back from its best checkpoint; it is kept unless beaten."""

    def __init__(self, net: nn.Cell, dataset, interval: int, total_epochs: int, best_path: str,
                 save: bool = True, ema=None, sum_across_ranks=None, best: Optional[Tuple[float, int]] = None,
                 extra: Optional[Dict] = None):
        super().__init__()
        self.extra = dict(extra or {})  # written into the best checkpoint too (the model record)
        self.net = net
        self.sum_across_ranks = sum_across_ranks
        self.ema = ema
        self.dataset = dataset
        self.interval = interval
        self.total_epochs = total_epochs
        self.best_path = best_path
        self.save = save
        self.best, self.best_epoch = best if best is not None else (-1.0, 0)
        self.history: List[Dict] = []

    def on_train_epoch_end(self, run_context):
        epoch = run_context.original_args().cur_epoch_num
        if epoch % self.interval and epoch != self.total_epochs:
            return
        start = time.time()
        if self.ema is not None:
            self.ema.swap()  # validate (and keep as best) the averaged weights
        try:
            result = evaluate(self.net, self.dataset, self.sum_across_ranks)
            self.history.append({"epoch": epoch, **result})
            top1 = result["top_1_accuracy"]
            if top1 > self.best:
                self.best, self.best_epoch = top1, epoch
                if self.save:
                    atomic_save_checkpoint(self.net, self.best_path,
                                           {"epoch_num": epoch, "top_1_accuracy": top1, **self.extra})
        finally:
            if self.ema is not None:
                self.ema.swap()
        which = "EMA " if self.ema is not None else ""
        LOG.info(f"epoch: {epoch} {which}validation: top_1_accuracy {top1:.4f}, top_5_accuracy "
                 f"{result['top_5_accuracy']:.4f} over {result['num_samples']} images "
                 f"({time.time() - start:.1f} s); best {self.best:.4f} at epoch {self.best_epoch}")


class CheckpointSaver(Callback):
    """Write `<prefix>-<epoch>_<steps per epoch>.ckpt` every `every` epochs and after the last, atomically.

    A checkpoint holds the train network (weights, BN statistics, optimizer moments, step counter) plus `epoch_num`
    and `step_num` (the global step, which a resumed process continues). The folder keeps the `keep_max` newest
    periodic checkpoints of the prefix, counting those an earlier process of the run wrote; the names never change
    across resumes (MindSpore's own saver appends _1, _2, ... to the prefix when files exist). Parameters whose
    names start with one of `exclude` are left out (a distillation teacher's).
    """

    def __init__(self, directory: str, prefix: str, steps_per_epoch: int, every: int, keep_max: int,
                 total_epochs: int, extra: Optional[Dict] = None, exclude: Tuple[str, ...] = ()):
        super().__init__()
        self.extra = dict(extra or {})  # written into every checkpoint (the model record)
        self.exclude = tuple(exclude)  # parameter-name prefixes left out (a distillation teacher)
        self.directory = directory
        self.prefix = prefix
        self.steps = steps_per_epoch
        self.every = every
        self.keep_max = keep_max
        self.total_epochs = total_epochs
        self.latest = ""

    def on_train_epoch_end(self, run_context):
        cb = run_context.original_args()
        epoch = cb.cur_epoch_num
        if epoch % self.every and epoch != self.total_epochs:
            return
        os.makedirs(self.directory, exist_ok=True)
        path = os.path.join(self.directory, periodic_name(self.prefix, epoch, self.steps))
        save_training_checkpoint(cb, path, epoch, 0, self.extra, self.exclude)
        self.latest = path
        for _, old in periodic_checkpoints(self.directory, self.prefix)[:-self.keep_max]:
            if old != path:
                os.chmod(old, 0o600)
                os.remove(old)


def save_training_checkpoint(cb, path: str, epochs_done: int, step_in_epoch: int, extra: Dict,
                             exclude: Tuple[str, ...] = ()) -> None:
    """Write the train network of MindSpore's callback parameters `cb` (weights, BN statistics, optimizer moments,
    step counter) with `epoch_num` (epochs completed), `step_num` (the global step), `step_in_epoch` (steps of the
    next epoch already trained: 0 at an epoch's end) and `extra`; parameters under an `exclude` prefix left out."""
    step = int(cb.optimizer.global_step.asnumpy().reshape(-1)[0])
    entries = {"epoch_num": epochs_done, "step_num": step, **({"step_in_epoch": step_in_epoch} if step_in_epoch
                                                              else {}), **extra}
    atomic_save_checkpoint(cb.train_network, path, entries,
                           choice_func=(lambda name: not name.startswith(exclude)) if exclude else None)


def interrupt_saver(directory: str, prefix: str, extra: Dict, exclude: Tuple[str, ...] = (),
                    ema: Optional[WeightEMA] = None):
    """save(cb, epochs_done, step_in_epoch) -> path for interrupt.StopOnSignal: `<prefix>_interrupted.ckpt` (and
    the EMA's `<prefix>_ema.ckpt`, which a resume continues) in `directory`."""
    def save(cb, epochs_done: int, step_in_epoch: int) -> str:
        path = os.path.join(directory, interrupted_name(prefix))
        save_training_checkpoint(cb, path, epochs_done, step_in_epoch, extra, exclude)
        if ema is not None:
            save_ema(ema, os.path.join(directory, ema_name(prefix)), extra)
        return path
    return save


class EMAUpdate(Callback):
    """Update the average after every step; save it every `save_epochs` epochs and after the last."""

    def __init__(self, ema: WeightEMA, path: Optional[str], save_epochs: int, total_epochs: int,
                 extra: Optional[Dict] = None):
        super().__init__()
        self.extra = dict(extra or {})
        self.ema = ema
        self.path = path
        self.save_epochs = save_epochs
        self.total_epochs = total_epochs

    def on_train_step_end(self, run_context):
        self.ema()

    def on_train_epoch_end(self, run_context):
        epoch = run_context.original_args().cur_epoch_num
        if self.path and (epoch % self.save_epochs == 0 or epoch == self.total_epochs):
            save_ema(self.ema, self.path, self.extra)
