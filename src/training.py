"""Training: optimizer, mixed precision, the train step, and the callbacks that log, validate and checkpoint."""
import glob
import math
import os
import re
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import mindspore as ms
import mindspore.dataset as ds
from mindspore import nn
from mindspore.train.callback import Callback

from .checkpoint import (check_checkpoint_file, check_compatible, load_weights, read_checkpoint,
                         split_training_state)
from .ema import EMAUpdate, WeightEMA
from .config import Config, save_config
from .data import create_dataset, pipeline_errors, prepare_data_path
from .data.pipeline import augmentation_seed
from .errors import CheckpointError, ConfigError
from .evaluation import evaluate, format_result
from .loss import CrossEntropySmooth
from .lr_schedule import lr_schedule_from_config
from .models import check_model_name, count_params, create_model, freeze_batch_norm
from .distributed import weight_agreement
from .outputs import RunLock, atomic_save_checkpoint, check_output_dir, remove_stale_temp_files
from .runtime import LOG, Runtime, setup_logging, setup_runtime

AMP_BY_DEVICE = {"CPU": "O0", "GPU": "O2", "Ascend": "O3"}


def split_weight_decay(net: nn.Cell, weight_decay: float, filter_bias_and_bn: bool) -> List:
    """Optimizer parameter groups: weight decay on weights, none on BN parameters and biases when asked."""
    params = net.trainable_params()
    if not filter_bias_and_bn or weight_decay == 0:
        return [{"params": params, "weight_decay": weight_decay}]
    no_decay = [p for p in params if p.name.endswith(("gamma", "beta", "bias")) or len(p.shape) <= 1]
    ids = {id(p) for p in no_decay}
    decay = [p for p in params if id(p) not in ids]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0},
            {"order_params": params}]


def build_optimizer(cfg: Config, net: nn.Cell, lr: np.ndarray, loss_scale: float = 1.0) -> nn.Optimizer:
    groups = split_weight_decay(net, cfg.weight_decay, cfg.filter_bias_and_bn)
    lr = ms.Tensor(lr)
    if cfg.optimizer == "momentum":
        return nn.Momentum(groups, lr, cfg.momentum, loss_scale=loss_scale, use_nesterov=cfg.nesterov)
    return nn.SGD(groups, lr, loss_scale=loss_scale, nesterov=cfg.nesterov,
                  momentum=0.0 if not cfg.nesterov else cfg.momentum)


def resolve_amp(cfg: Config, device_target: str):
    """(amp level, loss-scale manager, optimizer loss scale) for the config on this device."""
    level = AMP_BY_DEVICE[device_target] if cfg.amp_level == "auto" else cfg.amp_level
    if level == "O0":
        return level, None, 1.0
    # drop_overflow_update=False: the only loss-scale manager MindSpore supports on CPU, and the model zoo's
    # choice on Ascend; the optimizer divides the gradients by the same scale.
    manager = ms.FixedLossScaleManager(cfg.loss_scale, drop_overflow_update=False)
    return level, manager, cfg.loss_scale


class TrainMonitor(Callback):
    """The model zoo's log lines plus throughput and progress:

    `epoch: 1 step: 1251, loss is 5.001419`, `epoch time: ... ms, per step time: ... ms, ... img/s`, and every
    `log_interval` steps `epoch: 1 step: [100/1251], loss: ..., lr: ..., ... img/s, eta ...`.
    """

    def __init__(self, steps_per_epoch: int, batch_size: int, lr: np.ndarray, log_interval: int,
                 total_epochs: int):
        super().__init__()
        self.steps = steps_per_epoch
        self.batch_size = batch_size
        self.lr = lr
        self.log_interval = log_interval
        self.total_epochs = total_epochs
        self.epoch_start = self.interval_start = time.time()
        self.last_loss = float("nan")

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

    def on_train_step_end(self, run_context):
        cb = run_context.original_args()
        step_in_epoch = (cb.cur_step_num - 1) % self.steps + 1
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
        per_step = elapsed / self.steps
        LOG.info(f"epoch: {cb.cur_epoch_num} step: {self.steps}, loss is {self.last_loss}")
        LOG.info(f"epoch time: {elapsed:.3f} ms, per step time: {per_step:.3f} ms, "
                 f"{self.steps * self.batch_size / elapsed * 1000:.1f} img/s")


class ValidateAndKeepBest(Callback):
    """Validate every `interval` epochs (and after the last); keep the best weights as `<model>_best.ckpt`.

    `best`: the (top-1, epoch) a resumed run read back from its best checkpoint; it is kept unless beaten."""

    def __init__(self, net: nn.Cell, dataset, interval: int, total_epochs: int, best_path: str,
                 save: bool = True, ema=None, sum_across_ranks=None, best: Optional[Tuple[float, int]] = None):
        super().__init__()
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
                    atomic_save_checkpoint(self.net, self.best_path, {"epoch_num": epoch, "top_1_accuracy": top1})
        finally:
            if self.ema is not None:
                self.ema.swap()
        which = "EMA " if self.ema is not None else ""
        LOG.info(f"epoch: {epoch} {which}validation: top_1_accuracy {top1:.4f}, top_5_accuracy "
                 f"{result['top_5_accuracy']:.4f} over {result['num_samples']} images "
                 f"({time.time() - start:.1f} s); best {self.best:.4f} at epoch {self.best_epoch}")


def read_best(path: str) -> Optional[Tuple[float, int]]:
    """(top-1, epoch) recorded in a best checkpoint, or None when there is none (or it records neither)."""
    if not os.path.isfile(path):
        return None
    state = read_checkpoint(path)
    if "top_1_accuracy" not in state:
        return None
    epoch = int(state["epoch_num"].asnumpy()) if "epoch_num" in state else 0
    return float(state["top_1_accuracy"].asnumpy()), epoch


CHECKPOINT_NAME = re.compile(r"^(?P<prefix>.+)-(?P<epoch>\d+)_(?P<steps>\d+)\.ckpt$")


def periodic_checkpoints(directory: str, prefix: str) -> List[Tuple[int, str]]:
    """(epoch, path) of every `<prefix>-<epoch>_<steps>.ckpt` in `directory`, oldest epoch first."""
    if not os.path.isdir(directory):
        return []
    found = []
    for name in os.listdir(directory):
        match = CHECKPOINT_NAME.match(name)
        if match and match.group("prefix") == prefix:
            found.append((int(match.group("epoch")), os.path.join(directory, name)))
    return sorted(found)


class CheckpointSaver(Callback):
    """Write `<prefix>-<epoch>_<steps per epoch>.ckpt` every `every` epochs and after the last, atomically.

    A checkpoint holds the train network (weights, BN statistics, optimizer moments, step counter) plus `epoch_num`
    and `step_num` (the global step, which a resumed process continues). The folder keeps the `keep_max` newest
    periodic checkpoints of the prefix, counting those an earlier process of the run wrote; the names never change
    across resumes (MindSpore's own saver appends _1, _2, ... to the prefix when files exist).
    """

    def __init__(self, directory: str, prefix: str, steps_per_epoch: int, every: int, keep_max: int,
                 total_epochs: int):
        super().__init__()
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
        path = os.path.join(self.directory, f"{self.prefix}-{epoch}_{self.steps}.ckpt")
        step = int(cb.optimizer.global_step.asnumpy().reshape(-1)[0])
        atomic_save_checkpoint(cb.train_network, path, {"epoch_num": epoch, "step_num": step})
        self.latest = path
        for _, old in periodic_checkpoints(self.directory, self.prefix)[:-self.keep_max]:
            if old != path:
                os.chmod(old, 0o600)
                os.remove(old)


def _sink_mode(cfg: Config, device_target: str) -> bool:
    if cfg.dataset_sink_mode == "auto":
        return device_target == "Ascend" and not cfg.ema  # EMA updates after every step
    return cfg.dataset_sink_mode == "true"


def read_training_state(path: str, net: nn.Cell) -> Dict:
    """Load the weights of a training checkpoint into `net`; return its optimizer and bookkeeping entries."""
    state = load_weights(net, path)
    if "epoch_num" not in state or "global_step" not in state:
        raise CheckpointError(f"'{path}' holds no training state (epoch_num, global_step); resume needs a "
                              f"checkpoint written by train.py, use --pretrained_ckpt to start from weights only")
    return state


def restore_optimizer(state: Dict, optimizer: nn.Optimizer, path: str) -> None:
    """Set the optimizer's moments and step counter from a training checkpoint's entries.

    The lr array is rebuilt from the config, so a longer run (a larger epoch_size) continues on its own schedule
    at the saved step. Entries are set one by one: load_param_into_net on an optimizer also matched `moments.X`
    to the network weight `X` and overwrote it.
    """
    targets = [p for p in optimizer.get_parameters() if p.name.startswith("moments.")] + [optimizer.global_step]
    missing = [p.name for p in targets if p.name not in state]
    if missing:
        raise CheckpointError(f"'{path}' lacks optimizer state {missing[:3]}: was it written with another "
                              f"optimizer or another set of trainable parameters (freeze_epochs)?")
    for param in targets:
        value = state[param.name]
        if tuple(value.shape) != tuple(param.shape):
            raise CheckpointError(f"'{path}': optimizer state {param.name} has shape {tuple(value.shape)}, "
                                  f"expected {tuple(param.shape)}")
        param.set_data(ms.Tensor(value.asnumpy(), param.dtype))


def resume_training_state(path: str, net: nn.Cell, optimizer: nn.Optimizer, steps_per_epoch: int) -> int:
    """Load weights and optimizer state from a training checkpoint; return the number of epochs it completed."""
    state = read_training_state(path, net)
    restore_optimizer(state, optimizer, path)
    epoch = int(state["epoch_num"].asnumpy())
    step = int(state["global_step"].asnumpy().reshape(-1)[0])
    if step != epoch * steps_per_epoch:
        LOG.info(f"resume: checkpoint is at global step {step}, but {epoch} epochs of {steps_per_epoch} steps "
                 f"make {epoch * steps_per_epoch}; the lr schedule continues from step {step}")
    return epoch


def _from_model_zoo(model: str, params: Dict, path: str) -> Dict:
    """The model zoo's parameter names of `model` converted to ours, or a CheckpointError."""
    from .tools.convert_weights import convert
    try:
        converted = convert("modelzoo", model, {k: v.asnumpy() for k, v in params.items()})
    except ValueError as e:
        raise CheckpointError(f"'{path}' is neither a checkpoint of {model} nor a model-zoo one it converts from: "
                              f"{str(e)[:300]}") from None
    LOG.info(f"'{path}' has the model zoo's parameter names: converted to ours")
    return {k: ms.Parameter(ms.Tensor(v), name=k) for k, v in converted.items()}


def init_from_checkpoint(net: nn.Cell, path: str, model: str = "") -> None:
    """Start from the weights of `path` (ours, converted, or the model zoo's names, converted on the fly).

    When its classifier has another class count (fine-tuning), every other weight is loaded and
    `reset_classifier` gives the network a fresh head; any other mismatch is an error."""
    params, _ = split_training_state(read_checkpoint(path))
    ours = set(net.parameters_dict())
    if model and len(ours & set(params)) < len(ours) // 2:
        params = _from_model_zoo(model, params, path)
    head = params.get("classifier.weight")
    if head is not None and tuple(head.shape) != tuple(net.classifier.weight.shape):
        check_compatible(net, params, path, exclude=("classifier.",))
        ms.load_param_into_net(net, {k: v for k, v in params.items() if not k.startswith("classifier.")},
                               strict_load=True)
        net.reset_classifier(net.num_classes)
        LOG.info(f"initialised from {path}; its {head.shape[0]}-class head replaced by a new {net.num_classes}-"
                 f"class classifier")
        return
    check_compatible(net, params, path)
    ms.load_param_into_net(net, params, strict_load=True)
    LOG.info(f"initialised from {path}")


def _set_backbone_trainable(net: nn.Cell, trainable: bool) -> None:
    for param in net.get_parameters():
        if not param.name.startswith("classifier.") and param.name.split(".")[-1] in ("weight", "bias", "gamma",
                                                                                       "beta"):
            param.requires_grad = trainable


def resume_ema(ema: WeightEMA, resume_path: str, model: str) -> None:
    """Continue the average saved beside the resumed checkpoint, or restart it from the resumed weights."""
    path = os.path.join(os.path.dirname(os.path.abspath(resume_path)), f"{model}_ema.ckpt")
    if os.path.isfile(path):
        ema.load_state(read_checkpoint(path))
        LOG.info(f"resume: EMA weights from {path}")
    else:
        LOG.info(f"resume: no {path}; the EMA restarts from the resumed weights")


def lr_scale_for(cfg: Config, group_size: int) -> float:
    """The factor on the recipe's lr values (lr_scaling linear: global batch / lr_reference_batch), logged with
    the global batch."""
    global_batch = cfg.batch_size * group_size
    scale = global_batch / cfg.lr_reference_batch if cfg.lr_reference_batch else 1.0
    what = (f"global batch {global_batch} ({cfg.batch_size} per rank x {group_size} ranks)" if group_size > 1
            else f"global batch {global_batch} (one process)")
    if cfg.lr_scaling == "linear":
        LOG.info(f"{what}; lr_scaling linear: lr values x {global_batch}/{cfg.lr_reference_batch} = {scale:g} "
                 f"(lr_max {cfg.lr_max:g} -> {cfg.lr_max * scale:g})")
        return scale
    if cfg.lr_reference_batch and cfg.lr_reference_batch != global_batch:
        LOG.info(f"{what}; lr_max {cfg.lr_max:g} was set for a global batch of {cfg.lr_reference_batch}: kept as "
                 f"is (--lr_scaling linear would use {cfg.lr_max * scale:g})")
    else:
        LOG.info(f"{what}; lr_max {cfg.lr_max:g} as configured")
    return 1.0


def check_training_inputs(cfg: Config) -> None:
    """The checks that need no device and write nothing: a bad input fails before any folder or log exists."""
    check_model_name(cfg.model)
    if cfg.dataset != "synthetic" or cfg.data_path:
        if not cfg.data_path:
            raise ConfigError("no data path given: pass --data_path DIR")
        if not os.path.exists(cfg.data_path):
            raise FileNotFoundError(f"data path '{cfg.data_path}' does not exist")
    for key in ("resume", "pretrained_ckpt"):
        if getattr(cfg, key):
            check_checkpoint_file(getattr(cfg, key), f"--{key}")
    check_output_dir(cfg.output_dir)


def train(cfg: Config) -> Dict:
    """Train as the config says; return a summary (final and best validation results, checkpoint paths).

    Rank 0 holds a lock on the output folder for the whole run (other ranks share it)."""
    check_training_inputs(cfg)  # before joining a group: under msrun the scheduler process fails on it too
    runtime: Runtime = setup_runtime(cfg)
    lock = RunLock(cfg.output_dir).acquire() if runtime.is_main else None
    try:
        return _train(cfg, runtime, lock)
    finally:
        if lock is not None:
            lock.release()


def _train(cfg: Config, runtime: Runtime, lock: Optional[RunLock]) -> Dict:
    os.makedirs(cfg.output_dir, exist_ok=True)
    log_name = f"train_rank{runtime.rank}.log" if runtime.distributed else "train.log"
    setup_logging(os.path.join(cfg.output_dir, log_name))
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
    data_root = prepare_data_path(cfg, runtime.is_main)
    record = (os.path.join(cfg.output_dir, f"samples_rank{runtime.rank}.txt") if cfg.record_samples else None)
    if record and os.path.exists(record):
        os.remove(record)

    def training_data(first_epoch: int):
        return create_dataset(cfg, "train", data_root, runtime.group_size, runtime.rank, first_epoch, record)

    # The state is read before the data so that a resumed run continues the shuffle at its epoch.
    net = create_model(cfg.model, num_classes=cfg.num_classes, drop_rate=cfg.drop_rate,
                       image_size=cfg.image_size)
    if cfg.pretrained_ckpt:
        init_from_checkpoint(net, cfg.pretrained_ckpt, cfg.model)
    if cfg.freeze_bn:
        LOG.info(f"freeze_bn: {freeze_batch_norm(net)} BN layers normalise with their running statistics")
    state = read_training_state(cfg.resume, net) if cfg.resume else None
    start_epoch = int(state["epoch_num"].asnumpy()) if state else 0
    if start_epoch >= cfg.epoch_size:
        raise ConfigError(f"the checkpoint '{cfg.resume}' already completed {start_epoch} epochs of "
                          f"epoch_size={cfg.epoch_size}; raise --epoch_size to train further")
    train_data = training_data(start_epoch)
    if train_data is None:
        raise ConfigError(f"no training split in '{data_root}': expected a train/ folder or class folders")
    val_data = (create_dataset(cfg, "val", data_root, runtime.group_size, runtime.rank) if cfg.eval_interval > 0
                else None)

    steps = train_data.steps
    lr = lr_schedule_from_config(cfg, steps, lr_scale_for(cfg, runtime.group_size))
    amp_level, scale_manager, opt_scale = resolve_amp(cfg, runtime.device_target)
    # Phases: the classifier alone for the first freeze_epochs, then every parameter. Each phase has its own
    # optimizer over the trainable parameters, continuing the one lr schedule at its first step.
    freeze_end = min(cfg.freeze_epochs, cfg.epoch_size)
    phases = [(s, e, frozen) for s, e, frozen in ((start_epoch, freeze_end, True),
                                                  (max(start_epoch, freeze_end), cfg.epoch_size, False)) if s < e]
    loss_fn = CrossEntropySmooth(cfg.label_smooth_factor, cfg.num_classes)
    if runtime.is_main:
        save_config(cfg, os.path.join(cfg.output_dir, "config.yaml"))
    LOG.info(f"model {cfg.model}: {count_params(net):,} parameters, {cfg.num_classes} classes; device "
             f"{runtime.device_target}, mode {cfg.mode}, amp {amp_level}")
    shard = (f" (rank {runtime.rank} reads {train_data.num_samples} of {train_data.total})"
             if runtime.distributed else "")
    LOG.info(f"data {train_data.root}: {train_data.total} training images{shard}, {steps} steps of "
             f"{cfg.batch_size} per epoch" + (f"; {val_data.total} validation images" if val_data else
                                              "; no validation split"))
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
    monitor = TrainMonitor(steps, cfg.batch_size * runtime.group_size, lr, cfg.log_interval, cfg.epoch_size)
    callbacks = [monitor]
    saver = None
    if runtime.is_main:
        saver = CheckpointSaver(ckpt_dir, cfg.model, steps, cfg.save_checkpoint_epochs, cfg.keep_checkpoint_max,
                                cfg.epoch_size)
        callbacks.append(saver)
    ema = None
    if cfg.ema:
        ema = WeightEMA(net, cfg.ema_decay)
        if cfg.resume:
            resume_ema(ema, cfg.resume, cfg.model)
        callbacks.append(EMAUpdate(ema, os.path.join(ckpt_dir, f"{cfg.model}_ema.ckpt") if runtime.is_main else None,
                                   cfg.save_checkpoint_epochs, cfg.epoch_size))
    validator = None
    if val_data is not None:
        best_path = os.path.join(ckpt_dir, f"{cfg.model}_best.ckpt")
        best = read_best(best_path) if state is not None else None
        if best is not None:
            LOG.info(f"resume: the best so far is top-1 {best[0]:.4f} at epoch {best[1]} ({best_path}); it is "
                     f"replaced only by a better one")
        validator = ValidateAndKeepBest(net, val_data.dataset, cfg.eval_interval, cfg.epoch_size, best_path,
                                        runtime.is_main, ema,
                                        runtime.sum_across_ranks if runtime.distributed else None, best)
        callbacks.append(validator)
    sink = _sink_mode(cfg, runtime.device_target)
    start = time.time()
    for first, end, frozen in phases:
        _set_backbone_trainable(net, not frozen)
        optimizer = build_optimizer(cfg, net, lr, opt_scale)
        if state is not None and first == start_epoch:
            restore_optimizer(state, optimizer, cfg.resume)
        else:
            optimizer.global_step.set_data(ms.Tensor([first * steps], ms.int32))
        if frozen:
            LOG.info(f"epochs {first + 1}-{end}: backbone frozen, training the classifier only")
        model = ms.Model(net, loss_fn, optimizer, amp_level=amp_level, loss_scale_manager=scale_manager,
                         keep_batchnorm_fp32=True if amp_level != "O0" else None)
        # One pipeline per epoch, its augmentations seeded by (seed, rank, epoch): a resumed run draws what the
        # uninterrupted run drew. With dataset sinking (Ascend) one pipeline feeds the phase, since every new
        # pipeline would connect (and compile) the network anew: there the data order resumes exactly and the
        # augmentation streams restart from (seed, rank, resumed epoch).
        segments = [(first, end)] if sink else [(e, e + 1) for e in range(first, end)]
        for seg_first, seg_end in segments:
            if seg_first != start_epoch:  # MindSpore refuses to feed one dataset object to a second Model
                train_data = training_data(seg_first)
            ds.config.set_seed(augmentation_seed(cfg.seed, runtime.rank, seg_first))
            with pipeline_errors():
                model.train(seg_end, train_data.dataset, callbacks=callbacks, dataset_sink_mode=sink,
                            initial_epoch=seg_first)
    _set_backbone_trainable(net, True)
    summary = {"train_seconds": time.time() - start, "checkpoints": sorted(glob.glob(os.path.join(ckpt_dir, "*.ckpt"))),
               "final_loss": monitor.last_loss}
    if saver is not None:
        summary["last_checkpoint"] = (os.path.join(ckpt_dir, f"{cfg.model}_ema.ckpt") if ema is not None
                                      else saver.latest)
    if validator is not None and validator.history:
        final = validator.history[-1]
        LOG.info(format_result(final, summary.get("last_checkpoint", "")))
        summary.update(final=final, best=validator.best, best_epoch=validator.best_epoch)
    if runtime.distributed:
        summary["rank_spread"] = report_rank_agreement(net, runtime)
    LOG.info(f"training finished in {summary['train_seconds']:.1f} s; checkpoints in {ckpt_dir}")
    return summary


def report_rank_agreement(net: nn.Cell, runtime: Runtime) -> Dict[str, float]:
    """Check, and log on every rank, that the ranks ended with the same weights (the gradient all-reduce keeps
    them identical; BN running statistics come from each rank's own batches and are expected to differ)."""
    spread = weight_agreement(net, runtime.rank, runtime.group_size)
    LOG.info(f"rank agreement over {runtime.group_size} ranks: trainable weights max |w_rank - w_rank0| = "
             f"{spread['weights']:.3g}; BN running statistics differ by up to {spread['bn_statistics']:.3g} "
             f"(per-rank batches; the checkpoints hold rank 0's)")
    if spread["weights"] > 0:
        LOG.warning(f"the ranks' trainable weights differ by up to {spread['weights']:.3g}: gradients were not "
                    f"all-reduced identically")
    return spread
