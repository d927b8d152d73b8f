"""Train a zoo network: `python train.py --config configs/X.yaml --data_path DIR --output_dir DIR [--KEY VALUE]`.

The configuration is unpacked here into the library's factories: data (open_split, create_dataset,
create_transforms, create_loader), network (create_model), loss, lr schedule, optimizer, callbacks and the
Trainer. `python train.py --help` explains every key.
"""
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from src.cli import run_main
from src.config import parse_config, save_config
from src.data import (AUGMENTATION_KEYS, Augmentation, augmentation_seed, check_class_count, create_split_loader,
                      open_split, resolve_data_path, resolve_dataset)
from src.data.folders import check_output_outside_splits
from src.data.preprocessing import PREPROCESSING_KEYS, Preprocessing, resolve_preprocessing
from src.distributed import report_rank_agreement
from src.engine.callbacks import CheckpointSaver, EMAUpdate, TrainMonitor, ValidateAndKeepBest, interrupt_saver
from src.engine.checkpoint import (check_checkpoint_file, check_resume_fits, init_from_checkpoint, read_best,
                                   read_training_state, recorded_model_kwargs)
from src.engine.distill import TEACHER_PREFIX, check_teacher, create_teacher, distillation_network
from src.engine.ema import WeightEMA, resume_ema
from src.engine.evaluation import format_result
from src.engine.interrupt import StopOnSignal
from src.engine.loss import create_loss
from src.engine.optim import create_optimizer, linear_lr_scale, resolve_amp
from src.engine.record import ModelRecord
from src.engine.report import TrainingReport, draw_validation_grid
from src.engine.run_files import RunPaths
from src.engine.scheduler import create_scheduler
from src.engine.trainer import Trainer, plan_phases, use_sink_mode
from src.errors import ConfigError
from src.models import (check_model_name, count_params, create_model, freeze_batch_norm, freeze_stages,
                        get_default_cfg)
from src.outputs import RunLock, check_new_run, check_output_dir, clear_earlier_run, remove_stale_temp_files
from src.runtime import LOG, setup_logging, setup_runtime
from src.weights.cli import expand_pretrained

PROG = "train.py"
DESCRIPTION = "Train a network of the zoo; every config key can be overridden on the command line."


def check_inputs(cfg) -> str:
    """The checks that need no device and write nothing, so a bad input fails before any folder or log exists;
    returns the data-set kind to read."""
    check_model_name(cfg.model)
    kind = resolve_dataset(cfg.dataset, cfg.data_path, cfg.from_command_line("dataset"))
    if kind != "synthetic" and not os.path.exists(cfg.data_path):
        raise FileNotFoundError(f"data path '{cfg.data_path}' does not exist")
    if kind not in ("synthetic", "cifar10"):
        check_output_outside_splits(cfg.data_path, cfg.output_dir)
    for key in ("resume", "pretrained_ckpt"):
        if getattr(cfg, key):
            check_checkpoint_file(getattr(cfg, key), f"--{key}")
    if cfg.kd_teacher:
        check_teacher(cfg.kd_teacher, cfg.kd_teacher_ckpt)
    check_output_dir(cfg.output_dir)
    check_new_run(cfg.output_dir, cfg.resume, cfg.overwrite, (cfg.pretrained_ckpt, cfg.kd_teacher_ckpt))
    return kind


def train(cfg, source: str = PROG, epoch_time_label: str = "epoch time") -> Dict:
    """Train as `cfg` says; return a summary (final and best validation results, checkpoint paths).

    Rank 0 holds a lock on the output folder for the whole run (the other ranks share it). `source` names the
    script in the checkpoints' record; `epoch_time_label` starts the epoch-time log line (the model zoo's fine-tuning
    wrote "Train epoch time")."""
    kind = check_inputs(cfg)  # before joining a group: under msrun the scheduler process fails on it too
    runtime = setup_runtime(cfg.device_target, cfg.device_id, cfg.mode, cfg.seed, cfg.distribute,
                            device_id_given=cfg.from_command_line("device_id"))
    if cfg.device_num and cfg.device_num != runtime.group_size:
        raise ConfigError(f"device_num is {cfg.device_num} but the launcher started {runtime.group_size} "
                          f"process(es); start {cfg.device_num} or leave device_num out")
    lock = RunLock(cfg.output_dir).acquire() if runtime.is_main else None
    try:
        run = TrainingRun(cfg, runtime, RunPaths(cfg.output_dir, cfg.model, runtime.rank, runtime.distributed),
                          kind, source, epoch_time_label)
        run.start_logging(lock)
        run.open_data()
        return run.train()
    except BaseException:
        if lock is not None:
            setup_logging()  # close train.log: a folder this run created and nothing else used goes again
            lock.release_failed()
        raise
    finally:
        if lock is not None:
            lock.release()


@dataclass
class RunCallbacks:
    """The callbacks of a run, by role, and in the order MindSpore calls them."""
    monitor: TrainMonitor
    saver: Optional[CheckpointSaver] = None
    ema: Optional[WeightEMA] = None
    validator: Optional[ValidateAndKeepBest] = None
    stopper: Optional[StopOnSignal] = None
    all: List = field(default_factory=list)


@dataclass
class TrainingRun:
    """One training run: its configuration, runtime and files, and what it resolved from the data (the data-set
    kind, the class count, the splits and the network's preprocessing) and the model record its checkpoints carry.
    The configuration itself is never rewritten: what the data decides lives here."""
    cfg: Any
    runtime: Any
    paths: RunPaths
    dataset: str
    source: str = PROG
    epoch_time_label: str = "epoch time"
    num_classes: int = 0
    root: str = ""
    train_source: Any = None
    val_source: Any = None
    preprocessing: Optional[Preprocessing] = None
    record: Optional[ModelRecord] = None

    def start_logging(self, lock) -> None:
        """Log to the console and the run's log file; remove temp files a killed run left."""
        cfg = self.cfg
        os.makedirs(cfg.output_dir, exist_ok=True)
        cleared = (clear_earlier_run(cfg.output_dir, (cfg.pretrained_ckpt, cfg.kd_teacher_ckpt))
                   if self.runtime.is_main and cfg.overwrite and not cfg.resume else [])
        setup_logging(self.paths.log)
        if cleared:
            LOG.info(f"--overwrite true: removed the earlier run's {', '.join(cleared)} from {cfg.output_dir}")
        if lock is not None and lock.taken_over:
            LOG.info(f"took over the lock of a run that ended without releasing it (pid "
                     f"{lock.taken_over.get('pid')} on {lock.taken_over.get('host')})")
        if self.runtime.is_main:
            stale = remove_stale_temp_files(self.paths.ckpt_dir, self.cfg.model)
            if stale:
                LOG.info(f"removed {len(stale)} temp file(s) an interrupted earlier run left in "
                         f"{self.paths.ckpt_dir}: {', '.join(stale)}")
        if self.runtime.distributed:
            LOG.info(f"rank {self.runtime.rank} of {self.runtime.group_size} (launched by {self.runtime.launcher}, "
                     f"pid {os.getpid()}), device {self.runtime.device_target}; only rank 0 writes checkpoints and "
                     f"config.yaml")

    def open_data(self) -> None:
        """The data root, its splits, the class count (the data's unless one was given) and the preprocessing."""
        cfg = self.cfg
        self.num_classes = cfg.num_classes
        self.root = resolve_data_path(self.dataset, cfg.data_path, cfg.output_dir, cfg.num_classes, cfg.seed,
                                      cfg.synthetic_image_size, cfg.synthetic_train_per_class,
                                      cfg.synthetic_val_per_class, self.runtime.is_main)
        self.train_source = open_split(self.root, "train", self.dataset, cfg.image_check, training=True)
        if self.train_source is None:
            raise ConfigError(f"no training split in '{self.root}': expected a train/ folder or class folders")
        if cfg.source("num_classes") == "default" and self.train_source.num_classes != cfg.num_classes:
            self.num_classes = self.train_source.num_classes
            LOG.info(f"num_classes {self.num_classes}: the classes of {self.train_source.root}")
        check_class_count(self.train_source, self.num_classes, cfg.source("num_classes"))
        self.val_source = (open_split(self.root, "val", self.dataset, cfg.image_check,
                                      classes=self.train_source.classes) if cfg.eval_interval > 0 else None)
        keys = PREPROCESSING_KEYS
        self.preprocessing = resolve_preprocessing(get_default_cfg(cfg.model), cfg.set_by("command line", keys),
                                                   cfg.set_by("recipe", keys), dataset=self.dataset)
        self.record = ModelRecord(cfg.model, self.num_classes, self.preprocessing, self.train_source.classes,
                                  self.dataset, os.path.abspath(self.root), self.source, self.effective_config())

    def effective_config(self) -> Dict:
        """The config as the run used it: the keys, with the data-set kind and class count the data decided."""
        return {**self.cfg.to_dict(), "dataset": self.dataset, "num_classes": self.num_classes}

    def loader_factory(self, source, training: bool, samples_file: Optional[str] = None):
        """make(epoch) -> Loader for this rank's shard of `source` (`samples_file`: where the sampler records the
        indices it hands out)."""
        cfg, runtime = self.cfg, self.runtime
        augmentation = Augmentation(**{key: getattr(cfg, key) for key in AUGMENTATION_KEYS})
        batch_size = cfg.batch_size if training else (cfg.eval_batch_size or cfg.batch_size)

        def make(epoch: int = 0):
            return create_split_loader(source, self.preprocessing, training=training, batch_size=batch_size,
                                       augmentation=augmentation, num_classes=self.num_classes,
                                       num_shards=runtime.group_size, shard_id=runtime.rank, seed=cfg.seed,
                                       epoch=epoch, record=samples_file,
                                       num_parallel_workers=cfg.num_parallel_workers)
        return make

    def build_network(self):
        """The network, from pretrained weights and with frozen BN when asked, and the resume state (or None)."""
        cfg = self.cfg
        kwargs = recorded_model_kwargs(cfg.resume or cfg.pretrained_ckpt)  # e.g. MindCV's ReLU MobileNetV1
        net = create_model(cfg.model, num_classes=self.num_classes, drop_rate=cfg.drop_rate,
                           image_size=self.preprocessing.image_size, **kwargs)
        net.model_kwargs = self.record.model_kwargs = kwargs
        if cfg.pretrained_ckpt:
            init_from_checkpoint(net, cfg.pretrained_ckpt, cfg.model)
        if cfg.freeze_bn:
            LOG.info(f"freeze_bn: {freeze_batch_norm(net)} BN layers normalise with their running statistics")
        if cfg.freeze_stages != -1:  # -1: off; other values are checked against the network
            LOG.info(f"freeze_stages: {len(freeze_stages(net, cfg.freeze_stages))} parameters of the stem and the "
                     f"first {cfg.freeze_stages} stages frozen")
        state = read_training_state(cfg.resume, net) if cfg.resume else None
        return net, state

    def callbacks(self, net, steps: int, lr, val_loader, resuming: bool, start_epoch: int) -> RunCallbacks:
        """The run's callbacks; every checkpoint written carries the model record."""
        cfg, runtime, paths = self.cfg, self.runtime, self.paths
        monitor = TrainMonitor(steps, cfg.batch_size * runtime.group_size, lr, cfg.log_interval, cfg.epoch_size,
                               self.epoch_time_label)
        parts = RunCallbacks(monitor, all=[monitor])
        extra = self.record.append_dict()
        if runtime.is_main and cfg.save_checkpoint:
            parts.saver = CheckpointSaver(paths.ckpt_dir, cfg.model, steps, cfg.save_checkpoint_epochs,
                                          cfg.keep_checkpoint_max, cfg.epoch_size, extra, exclude=(TEACHER_PREFIX,))
            parts.all.append(parts.saver)
        if cfg.ema:
            parts.ema = WeightEMA(net, cfg.ema_decay)
            if resuming:
                LOG.info(resume_ema(parts.ema, cfg.resume, cfg.model))
            parts.all.append(EMAUpdate(parts.ema, paths.ema if runtime.is_main else None, cfg.save_checkpoint_epochs,
                                       cfg.epoch_size, extra))
        if val_loader is not None:
            parts.validator = self._validator(net, val_loader, parts.ema, resuming, extra)
            parts.all.append(parts.validator)
        parts.stopper = StopOnSignal(steps, interrupt_saver(paths.ckpt_dir, cfg.model, extra, (TEACHER_PREFIX,),
                                                            parts.ema) if runtime.is_main else None,
                                     runtime.sum_across_ranks if runtime.distributed else None,
                                     " (through the same launcher)" if runtime.distributed else "")
        parts.all.append(parts.stopper)  # after the EMA update, whose state it saves
        if runtime.is_main:  # summary.csv, steps.csv, curves.png: after the monitor and validator, whose numbers it
            parts.all.append(TrainingReport(cfg.output_dir, steps, lr, cfg.epoch_size, monitor, parts.validator,
                                            start_epoch if resuming else None,
                                            f"{cfg.model}: {os.path.basename(os.path.abspath(cfg.output_dir))}"))
        return parts

    def _validator(self, net, val_loader, ema, resuming: bool, extra) -> ValidateAndKeepBest:
        best = read_best(self.paths.best) if resuming else None
        if best is not None:
            LOG.info(f"resume: the best so far is top-1 {best[0]:.4f} at epoch {best[1]} ({self.paths.best}); it is "
                     f"replaced only by a better one")
        runtime = self.runtime
        return ValidateAndKeepBest(net, val_loader.dataset, self.cfg.eval_interval, self.cfg.epoch_size,
                                   self.paths.best, runtime.is_main, ema,
                                   runtime.sum_across_ranks if runtime.distributed else None, best, extra)

    def train(self) -> Dict:
        """Build the network and its data, train, and finish (see `finish`)."""
        cfg, runtime = self.cfg, self.runtime
        net, state = self.build_network()
        start_epoch = int(state["epoch_num"].asnumpy()) if state else 0
        if start_epoch >= cfg.epoch_size:
            raise ConfigError(f"the checkpoint '{cfg.resume}' already completed {start_epoch} epochs of "
                              f"epoch_size={cfg.epoch_size}; raise --epoch_size to train further")
        samples_file = self.paths.samples if cfg.record_samples else None
        if samples_file and os.path.exists(samples_file):
            os.remove(samples_file)
        make_train_loader = self.loader_factory(self.train_source, True, samples_file)
        train_loader = make_train_loader(start_epoch)
        val_loader = self.loader_factory(self.val_source, False)() if self.val_source else None
        steps = train_loader.steps
        lr = _lr_schedule(cfg, runtime, steps)
        if state is not None:
            check_resume_fits(state, cfg.resume, cfg.batch_size, len(lr))
        amp_level, scale_manager, opt_scale = resolve_amp(cfg.amp_level, runtime.device_target, cfg.loss_scale)
        if runtime.is_main:
            save_config(self.effective_config(), self.paths.config)
        self._log_start(net, amp_level, train_loader, val_loader, steps)
        _log_resume(cfg, state, start_epoch, steps)
        parts = self.callbacks(net, steps, lr, val_loader, state is not None, start_epoch)
        loss, loss_network = _loss(cfg, net, self.preprocessing, self.num_classes)
        trainer = Trainer(net, loss, lambda: _optimizer(cfg, net, lr, opt_scale), amp_level=amp_level,
                          loss_scale_manager=scale_manager,
                          sink=use_sink_mode(cfg.dataset_sink_mode, runtime.device_target, cfg.ema),
                          callbacks=parts.all, loss_network=loss_network)
        phases = plan_phases(start_epoch, cfg.epoch_size, cfg.freeze_epochs)
        for phase in phases:
            if phase.frozen:
                LOG.info(f"epochs {phase.first_epoch + 1}-{phase.end_epoch}: backbone frozen, training the "
                         f"classifier only")
        start = time.time()
        with parts.stopper.watching():  # SIGTERM / SIGINT: stop after the step, with a checkpoint that resumes there
            trainer.fit(make_train_loader, phases, steps, resume_state=state, resume_path=cfg.resume,
                        first_loader=train_loader,
                        augmentation_seed=lambda epoch: augmentation_seed(cfg.seed, runtime.rank, epoch))
        return self.finish(net, time.time() - start, parts)

    def _log_start(self, net, amp_level: str, train_loader, val_loader, steps: int) -> None:
        cfg, runtime = self.cfg, self.runtime
        LOG.info(f"model {cfg.model}: {count_params(net):,} parameters, {self.num_classes} classes; device "
                 f"{runtime.device_target}, mode {cfg.mode}, amp {amp_level}")
        shard = (f" (rank {runtime.rank} reads {train_loader.num_samples} of {train_loader.total})"
                 if runtime.distributed else "")
        LOG.info(f"data {self.train_source.root}: {train_loader.total} training images{shard}, {steps} steps of "
                 f"{cfg.batch_size} per epoch" + (f"; {val_loader.total} validation images" if val_loader else
                                                  "; no validation split"))

    def finish(self, net, seconds: float, parts: RunCallbacks) -> Dict:
        """The end of a run: the result line, the ranks' agreement, the prediction grid; the run's summary."""
        cfg, runtime, paths = self.cfg, self.runtime, self.paths
        summary = {"train_seconds": seconds, "final_loss": parts.monitor.last_loss,
                   "checkpoints": [p for _, p in paths.periodic()]}
        if parts.saver is not None:
            summary["last_checkpoint"] = paths.ema if parts.ema is not None else parts.saver.latest
        if parts.validator is not None and parts.validator.history:
            final = parts.validator.history[-1]
            LOG.info(format_result(final, summary.get("last_checkpoint", "")))
            summary.update(final=final, best=parts.validator.best, best_epoch=parts.validator.best_epoch)
        if runtime.distributed:
            summary["rank_spread"] = report_rank_agreement(net, runtime.rank, runtime.group_size, LOG)
        if runtime.is_main and cfg.prediction_grid:
            summary["prediction_grid"], line = draw_validation_grid(
                net, self.val_source, self.preprocessing, cfg.prediction_grid, paths.predictions,
                cfg.eval_batch_size or cfg.batch_size, f"{cfg.model} after epoch {cfg.epoch_size} (final weights)")
            LOG.info(line)
        LOG.info(f"training finished in {summary['train_seconds']:.1f} s; checkpoints in {paths.ckpt_dir}")
        return summary


def _lr_schedule(cfg, runtime, steps: int):
    """The per-step learning rates, scaled for the global batch when the config asks (logged)."""
    lr_scale, lr_line = linear_lr_scale(cfg.batch_size, runtime.group_size, cfg.lr_reference_batch, cfg.lr_scaling,
                                        cfg.lr_max)
    LOG.info(lr_line)
    return create_scheduler(steps, cfg.epoch_size, lr_max=cfg.lr_max, lr_init=cfg.lr_init, lr_end=cfg.lr_end,
                            warmup_epochs=cfg.warmup_epochs, decay_mode=cfg.lr_decay_mode, power=cfg.lr_power,
                            lr_scale=lr_scale, decay_rate=cfg.lr_decay_rate, decay_epochs=cfg.lr_decay_epochs)


def _log_resume(cfg, state, start_epoch: int, steps: int) -> None:
    """Say where a resumed run continues."""
    if state is None:
        return
    step = int(state["global_step"].asnumpy().reshape(-1)[0])
    LOG.info(f"resumed from {cfg.resume}: epoch {start_epoch} done, global step {step}; continuing at epoch "
             f"{start_epoch + 1} of {cfg.epoch_size}")
    if step != start_epoch * steps and "step_in_epoch" not in state:
        LOG.info(f"resume: the checkpoint is at global step {step}, but {start_epoch} epochs of {steps} steps "
                 f"make {start_epoch * steps}; the lr schedule continues from step {step}")


def _optimizer(cfg, net, lr, loss_scale: float):
    return create_optimizer(net, lr, name=cfg.optimizer, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                            nesterov=cfg.nesterov, filter_bias_and_bn=cfg.filter_bias_and_bn, loss_scale=loss_scale,
                            rmsprop_decay=cfg.rmsprop_decay, rmsprop_eps=cfg.rmsprop_eps)


def _loss(cfg, net, preprocessing, num_classes: int):
    """(label loss, loss network or None): with kd_teacher, the frozen teacher's logits join the label loss."""
    loss = create_loss(cfg.label_smooth_factor if cfg.use_label_smooth else 0.0, num_classes)
    if not cfg.kd_teacher:
        return loss, None
    teacher = create_teacher(cfg.kd_teacher, cfg.kd_teacher_ckpt, num_classes, preprocessing.image_size)
    LOG.info(f"distilling from {cfg.kd_teacher} ({cfg.kd_teacher_ckpt}, frozen): loss = {1 - cfg.kd_weight:g} "
             f"x label loss + {cfg.kd_weight:g} x T^2 x KL at T = {cfg.kd_temperature:g}")
    return loss, distillation_network(net, teacher, loss, cfg.kd_weight, cfg.kd_temperature)


def main(argv=None) -> int:
    def body(parsed) -> int:
        train(parsed[0])
        return 0
    return run_main(PROG, lambda args: parse_config(expand_pretrained(args, "--pretrained_ckpt"), PROG, DESCRIPTION),
                    body, argv)


if __name__ == "__main__":
    sys.exit(main())
