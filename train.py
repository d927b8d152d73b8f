"""Train a zoo network: `python train.py --config configs/X.yaml --data_path DIR --output_dir DIR [--KEY VALUE]`.

The configuration is unpacked here into the library's factories: data (open_split, create_dataset,
create_transforms, create_loader), network (create_model), loss, lr schedule, optimizer, callbacks and the
Trainer. `python train.py --help` explains every key.
"""
import os
import sys
import time
from typing import Dict, Optional

from src.cli import run_main
from src.config import parse_config, save_config
from src.data import (Augmentation, augmentation_seed, check_class_count, create_split_loader, open_split,
                      resolve_data_path, resolve_dataset)
from src.data.folders import check_output_outside_splits
from src.data.preprocessing import PREPROCESSING_KEYS, resolve_preprocessing
from src.distributed import report_rank_agreement
from src.engine.callbacks import CheckpointSaver, EMAUpdate, TrainMonitor, ValidateAndKeepBest
from src.engine.checkpoint import (check_checkpoint_file, check_resume_fits, init_from_checkpoint,
                                   periodic_checkpoints, read_best, read_training_state)
from src.engine.distill import TEACHER_PREFIX, check_teacher, create_teacher, distillation_network
from src.engine.ema import WeightEMA, resume_ema
from src.engine.evaluation import format_result
from src.engine.loss import create_loss
from src.engine.optim import create_optimizer, linear_lr_scale, resolve_amp
from src.engine.record import ModelRecord
from src.engine.report import TrainingReport
from src.engine.scheduler import create_scheduler
from src.engine.trainer import Trainer, plan_phases, use_sink_mode
from src.errors import ConfigError
from src.models import check_model_name, count_params, create_model, freeze_batch_norm, get_default_cfg
from src.outputs import RunLock, check_output_dir, remove_stale_temp_files
from src.prediction import draw_validation_grid
from src.runtime import LOG, setup_logging, setup_runtime

PROG = "train.py"
DESCRIPTION = "Train a network of the zoo; every config key can be overridden on the command line."


def check_inputs(cfg) -> None:
    """The checks that need no device and write nothing: a bad input fails before any folder or log exists."""
    check_model_name(cfg.model)
    kind = resolve_dataset(cfg.dataset, cfg.data_path, cfg.from_command_line("dataset"))
    if kind != "synthetic":
        if not os.path.exists(cfg.data_path):
            raise FileNotFoundError(f"data path '{cfg.data_path}' does not exist")
        if kind != "cifar10":
            check_output_outside_splits(cfg.data_path, cfg.output_dir)
    for key in ("resume", "pretrained_ckpt"):
        if getattr(cfg, key):
            check_checkpoint_file(getattr(cfg, key), f"--{key}")
    if cfg.kd_teacher:
        check_teacher(cfg.kd_teacher, cfg.kd_teacher_ckpt)
    check_output_dir(cfg.output_dir)


def train(cfg, source: str = PROG, epoch_time_label: str = "epoch time") -> Dict:
    """Train as `cfg` says; return a summary (final and best validation results, checkpoint paths).

    Rank 0 holds a lock on the output folder for the whole run (the other ranks share it). `source` names the
    script in the checkpoints' record; `epoch_time_label` starts the epoch-time log line (the model zoo's fine-tuning
    wrote "Train epoch time")."""
    check_inputs(cfg)  # before joining a group: under msrun the scheduler process fails on it too
    runtime = setup_runtime(cfg.device_target, cfg.device_id, cfg.mode, cfg.seed, cfg.distribute,
                            device_id_given=cfg.from_command_line("device_id"))
    if cfg.device_num and cfg.device_num != runtime.group_size:
        raise ConfigError(f"device_num is {cfg.device_num} but the launcher started {runtime.group_size} "
                          f"process(es); start {cfg.device_num} or leave device_num out")
    lock = RunLock(cfg.output_dir).acquire() if runtime.is_main else None
    try:
        return _train(cfg, runtime, lock, source, epoch_time_label)
    except BaseException:
        if lock is not None:
            setup_logging()  # close train.log: a folder this run created and nothing else used goes again
            lock.release_failed()
        raise
    finally:
        if lock is not None:
            lock.release()


def _start_logging(cfg, runtime, lock) -> str:
    """Log to the console and OUTPUT_DIR/train[_rank<r>].log; remove temp files a killed run left; return ckpt/."""
    os.makedirs(cfg.output_dir, exist_ok=True)
    setup_logging(os.path.join(cfg.output_dir, f"train_rank{runtime.rank}.log" if runtime.distributed
                               else "train.log"))
    ckpt_dir = os.path.join(cfg.output_dir, "ckpt")
    if lock is not None and lock.taken_over:
        LOG.info(f"took over the lock of a run that ended without releasing it (pid {lock.taken_over.get('pid')} "
                 f"on {lock.taken_over.get('host')})")
    if runtime.is_main:
        stale = remove_stale_temp_files(ckpt_dir, cfg.model)
        if stale:
            LOG.info(f"removed {len(stale)} temp file(s) an interrupted earlier run left in {ckpt_dir}: "
                     f"{', '.join(stale)}")
    if runtime.distributed:
        LOG.info(f"rank {runtime.rank} of {runtime.group_size} (launched by {runtime.launcher}, pid {os.getpid()}), "
                 f"device {runtime.device_target}; only rank 0 writes checkpoints and config.yaml")
    return ckpt_dir


def _open_data(cfg, runtime):
    """(cfg with the data-set kind and, when not given, the class count taken from the data; root; training
    source; validation source or None; preprocessing)."""
    kind = resolve_dataset(cfg.dataset, cfg.data_path, cfg.from_command_line("dataset"))
    if kind != cfg.dataset:
        cfg = cfg.replace(source="data", dataset=kind)
    root = resolve_data_path(kind, cfg.data_path, cfg.output_dir, cfg.num_classes, cfg.seed,
                             cfg.synthetic_image_size, cfg.synthetic_train_per_class, cfg.synthetic_val_per_class,
                             runtime.is_main)
    train_source = open_split(root, "train", kind, cfg.image_check, training=True)
    if train_source is None:
        raise ConfigError(f"no training split in '{root}': expected a train/ folder or class folders")
    if cfg.source("num_classes") == "default" and train_source.num_classes != cfg.num_classes:
        cfg = cfg.replace(source="data", num_classes=train_source.num_classes)
        LOG.info(f"num_classes {cfg.num_classes}: the classes of {train_source.root}")
    check_class_count(train_source, cfg.num_classes, cfg.source("num_classes"))
    val_source = (open_split(root, "val", kind, cfg.image_check, classes=train_source.classes)
                  if cfg.eval_interval > 0 else None)
    keys = PREPROCESSING_KEYS
    preprocessing = resolve_preprocessing(get_default_cfg(cfg.model), cfg.set_by("command line", keys),
                                          cfg.set_by("recipe", keys), dataset=kind)
    return cfg, root, train_source, val_source, preprocessing


def _loader_factory(cfg, runtime, source, preprocessing, training: bool, samples_file: Optional[str] = None):
    """make(epoch) -> Loader for this rank's shard of `source` (`samples_file`: where the sampler records the
    indices it hands out)."""
    augmentation = Augmentation(cfg.min_scale, tuple(cfg.crop_ratio or (3 / 4, 4 / 3)), cfg.hflip, cfg.color_jitter,
                                cfg.auto_augment, cfg.randaug_num_ops, cfg.randaug_magnitude, cfg.random_erasing,
                                cfg.mixup, cfg.cutmix, cfg.mix_prob)
    batch_size = cfg.batch_size if training else (cfg.eval_batch_size or cfg.batch_size)

    def make(epoch: int = 0):
        return create_split_loader(source, preprocessing, training=training, batch_size=batch_size,
                                   augmentation=augmentation, num_classes=cfg.num_classes,
                                   num_shards=runtime.group_size, shard_id=runtime.rank, seed=cfg.seed, epoch=epoch,
                                   record=samples_file, num_parallel_workers=cfg.num_parallel_workers)
    return make


def _build_network(cfg, preprocessing):
    """The network, from pretrained weights and with frozen BN when asked, and the resume state (or None)."""
    net = create_model(cfg.model, num_classes=cfg.num_classes, drop_rate=cfg.drop_rate,
                       image_size=preprocessing.image_size)
    if cfg.pretrained_ckpt:
        init_from_checkpoint(net, cfg.pretrained_ckpt, cfg.model)
    if cfg.freeze_bn:
        LOG.info(f"freeze_bn: {freeze_batch_norm(net)} BN layers normalise with their running statistics")
    state = read_training_state(cfg.resume, net) if cfg.resume else None
    return net, state


def _callbacks(cfg, runtime, net, steps, lr, val_loader, ckpt_dir, resuming: bool, record, epoch_time_label):
    """(monitor, checkpoint saver or None, EMA or None, validator or None) and the callback list; every checkpoint
    written carries the model `record`."""
    monitor = TrainMonitor(steps, cfg.batch_size * runtime.group_size, lr, cfg.log_interval, cfg.epoch_size,
                           epoch_time_label)
    callbacks = [monitor]
    saver = ema = validator = None
    extra = record.append_dict()
    if runtime.is_main and cfg.save_checkpoint:
        saver = CheckpointSaver(ckpt_dir, cfg.model, steps, cfg.save_checkpoint_epochs, cfg.keep_checkpoint_max,
                                cfg.epoch_size, extra, exclude=(TEACHER_PREFIX,))
        callbacks.append(saver)
    if cfg.ema:
        ema = WeightEMA(net, cfg.ema_decay)
        if resuming:
            LOG.info(resume_ema(ema, cfg.resume, cfg.model))
        callbacks.append(EMAUpdate(ema, os.path.join(ckpt_dir, f"{cfg.model}_ema.ckpt") if runtime.is_main else None,
                                   cfg.save_checkpoint_epochs, cfg.epoch_size, extra))
    if val_loader is not None:
        best_path = os.path.join(ckpt_dir, f"{cfg.model}_best.ckpt")
        best = read_best(best_path) if resuming else None
        if best is not None:
            LOG.info(f"resume: the best so far is top-1 {best[0]:.4f} at epoch {best[1]} ({best_path}); it is "
                     f"replaced only by a better one")
        validator = ValidateAndKeepBest(net, val_loader.dataset, cfg.eval_interval, cfg.epoch_size, best_path,
                                        runtime.is_main, ema,
                                        runtime.sum_across_ranks if runtime.distributed else None, best, extra)
        callbacks.append(validator)
    return (monitor, saver, ema, validator), callbacks


def _train(cfg, runtime, lock, source: str, epoch_time_label: str) -> Dict:
    ckpt_dir = _start_logging(cfg, runtime, lock)
    cfg, root, train_source, val_source, preprocessing = _open_data(cfg, runtime)
    record = ModelRecord(cfg.model, cfg.num_classes, preprocessing, train_source.classes, cfg.dataset,
                         os.path.abspath(root), source, cfg.to_dict())
    net, state = _build_network(cfg, preprocessing)
    start_epoch = int(state["epoch_num"].asnumpy()) if state else 0
    if start_epoch >= cfg.epoch_size:
        raise ConfigError(f"the checkpoint '{cfg.resume}' already completed {start_epoch} epochs of "
                          f"epoch_size={cfg.epoch_size}; raise --epoch_size to train further")
    samples_file = (os.path.join(cfg.output_dir, f"samples_rank{runtime.rank}.txt") if cfg.record_samples
                    else None)
    if samples_file and os.path.exists(samples_file):
        os.remove(samples_file)
    make_train_loader = _loader_factory(cfg, runtime, train_source, preprocessing, True, samples_file)
    train_loader = make_train_loader(start_epoch)
    val_loader = _loader_factory(cfg, runtime, val_source, preprocessing, False)() if val_source else None
    steps = train_loader.steps

    lr = _lr_schedule(cfg, runtime, steps)
    if state is not None:
        check_resume_fits(state, cfg.resume, cfg.batch_size, len(lr))
    amp_level, scale_manager, opt_scale = resolve_amp(cfg.amp_level, runtime.device_target, cfg.loss_scale)
    if runtime.is_main:
        save_config(cfg, os.path.join(cfg.output_dir, "config.yaml"))
    LOG.info(f"model {cfg.model}: {count_params(net):,} parameters, {cfg.num_classes} classes; device "
             f"{runtime.device_target}, mode {cfg.mode}, amp {amp_level}")
    shard = (f" (rank {runtime.rank} reads {train_loader.num_samples} of {train_loader.total})"
             if runtime.distributed else "")
    LOG.info(f"data {train_source.root}: {train_loader.total} training images{shard}, {steps} steps of "
             f"{cfg.batch_size} per epoch" + (f"; {val_loader.total} validation images" if val_loader else
                                              "; no validation split"))
    _log_resume(cfg, runtime, state, start_epoch, steps, ckpt_dir)
    (monitor, saver, ema, validator), callbacks = _callbacks(cfg, runtime, net, steps, lr, val_loader, ckpt_dir,
                                                             state is not None, record, epoch_time_label)
    if runtime.is_main:  # summary.csv, steps.csv, curves.png: after the monitor and validator, whose numbers it keeps
        callbacks.append(TrainingReport(cfg.output_dir, steps, lr, cfg.epoch_size, monitor, validator,
                                        start_epoch if state is not None else None,
                                        f"{cfg.model}: {os.path.basename(os.path.abspath(cfg.output_dir))}"))
    loss, loss_network = _loss(cfg, net, preprocessing)
    trainer = Trainer(net, loss,
                      lambda: create_optimizer(net, lr, name=cfg.optimizer, momentum=cfg.momentum,
                                               weight_decay=cfg.weight_decay, nesterov=cfg.nesterov,
                                               filter_bias_and_bn=cfg.filter_bias_and_bn, loss_scale=opt_scale,
                                               rmsprop_decay=cfg.rmsprop_decay, rmsprop_eps=cfg.rmsprop_eps),
                      amp_level=amp_level, loss_scale_manager=scale_manager,
                      sink=use_sink_mode(cfg.dataset_sink_mode, runtime.device_target, cfg.ema), callbacks=callbacks,
                      loss_network=loss_network)
    phases = plan_phases(start_epoch, cfg.epoch_size, cfg.freeze_epochs)
    for phase in phases:
        if phase.frozen:
            LOG.info(f"epochs {phase.first_epoch + 1}-{phase.end_epoch}: backbone frozen, training the classifier "
                     f"only")
    start = time.time()
    trainer.fit(make_train_loader, phases, steps, resume_state=state, resume_path=cfg.resume,
                first_loader=train_loader,
                augmentation_seed=lambda epoch: augmentation_seed(cfg.seed, runtime.rank, epoch))
    return _finish(cfg, runtime, net, time.time() - start, monitor, saver, ema, validator, ckpt_dir, val_source,
                   preprocessing)


def _lr_schedule(cfg, runtime, steps: int):
    """The per-step learning rates, scaled for the global batch when the config asks (logged)."""
    lr_scale, lr_line = linear_lr_scale(cfg.batch_size, runtime.group_size, cfg.lr_reference_batch, cfg.lr_scaling,
                                        cfg.lr_max)
    LOG.info(lr_line)
    return create_scheduler(steps, cfg.epoch_size, lr_max=cfg.lr_max, lr_init=cfg.lr_init, lr_end=cfg.lr_end,
                            warmup_epochs=cfg.warmup_epochs, decay_mode=cfg.lr_decay_mode, power=cfg.lr_power,
                            lr_scale=lr_scale, decay_rate=cfg.lr_decay_rate, decay_epochs=cfg.lr_decay_epochs)


def _log_resume(cfg, runtime, state, start_epoch: int, steps: int, ckpt_dir: str) -> None:
    """Say where a resumed run continues, or that a new run replaces an earlier run's checkpoints."""
    if state is not None:
        step = int(state["global_step"].asnumpy().reshape(-1)[0])
        LOG.info(f"resumed from {cfg.resume}: epoch {start_epoch} done, global step {step}; continuing at epoch "
                 f"{start_epoch + 1} of {cfg.epoch_size}")
        if step != start_epoch * steps:
            LOG.info(f"resume: the checkpoint is at global step {step}, but {start_epoch} epochs of {steps} steps "
                     f"make {start_epoch * steps}; the lr schedule continues from step {step}")
    elif runtime.is_main and periodic_checkpoints(ckpt_dir, cfg.model):
        LOG.info(f"warning: {ckpt_dir} holds checkpoints of an earlier run; this new run (no --resume) replaces "
                 f"them as it writes its own")


def _loss(cfg, net, preprocessing):
    """(label loss, loss network or None): with kd_teacher, the frozen teacher's logits join the label loss."""
    loss = create_loss(cfg.label_smooth_factor if cfg.use_label_smooth else 0.0, cfg.num_classes)
    if not cfg.kd_teacher:
        return loss, None
    teacher = create_teacher(cfg.kd_teacher, cfg.kd_teacher_ckpt, cfg.num_classes, preprocessing.image_size)
    LOG.info(f"distilling from {cfg.kd_teacher} ({cfg.kd_teacher_ckpt}, frozen): loss = {1 - cfg.kd_weight:g} "
             f"x label loss + {cfg.kd_weight:g} x T^2 x KL at T = {cfg.kd_temperature:g}")
    return loss, distillation_network(net, teacher, loss, cfg.kd_weight, cfg.kd_temperature)


def _finish(cfg, runtime, net, seconds: float, monitor, saver, ema, validator, ckpt_dir: str, val_source,
            preprocessing) -> Dict:
    """The end of a run: the result line, the ranks' agreement, the prediction grid; the run's summary."""
    summary = {"train_seconds": seconds, "final_loss": monitor.last_loss,
               "checkpoints": [p for _, p in periodic_checkpoints(ckpt_dir, cfg.model)]}
    if saver is not None:
        summary["last_checkpoint"] = (os.path.join(ckpt_dir, f"{cfg.model}_ema.ckpt") if ema is not None
                                      else saver.latest)
    if validator is not None and validator.history:
        final = validator.history[-1]
        LOG.info(format_result(final, summary.get("last_checkpoint", "")))
        summary.update(final=final, best=validator.best, best_epoch=validator.best_epoch)
    if runtime.distributed:
        summary["rank_spread"] = report_rank_agreement(net, runtime.rank, runtime.group_size, LOG)
    if runtime.is_main and cfg.prediction_grid:
        summary["prediction_grid"], line = draw_validation_grid(
            net, val_source, preprocessing, cfg.prediction_grid, os.path.join(cfg.output_dir, "predictions.png"),
            cfg.eval_batch_size or cfg.batch_size, f"{cfg.model} after epoch {cfg.epoch_size} (final weights)")
        LOG.info(line)
    LOG.info(f"training finished in {summary['train_seconds']:.1f} s; checkpoints in {ckpt_dir}")
    return summary


def main(argv=None) -> int:
    def body(parsed) -> int:
        train(parsed[0])
        return 0
    return run_main(PROG, lambda args: parse_config(args, PROG, DESCRIPTION), body, argv)


if __name__ == "__main__":
    sys.exit(main())
