"""The training loop: phases, one data pipeline per epoch, `ms.Model` steps and the callbacks.

Phases: with `freeze_epochs`, the classifier alone trains first, then every parameter; each phase has its own
optimizer over the trainable parameters, continuing the one lr schedule at its first step. Each epoch reads a
fresh pipeline whose augmentations are seeded by (seed, rank, epoch) (`augmentation_seed`), so a resumed run draws
what the uninterrupted one did. With dataset sinking (Ascend) one pipeline feeds a phase instead, since every new
pipeline connects (and compiles) the network anew: the data order still resumes exactly, the augmentation
streams restart from (seed, rank, resumed epoch).
"""
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import mindspore as ms
import mindspore.dataset as ds
from mindspore import nn

from ..data import Loader, pipeline_errors
from ..errors import CheckpointError
from ..runtime import LOG, compile_first
from .checkpoint import restore_optimizer


@dataclass(frozen=True)
class Phase:
    first_epoch: int      # 0-based, inclusive
    end_epoch: int        # exclusive
    frozen: bool          # only the classifier trains


def plan_phases(start_epoch: int, epochs: int, freeze_epochs: int = 0) -> List[Phase]:
    """The phases left to train from `start_epoch` (a resumed run starts inside a phase)."""
    freeze_end = min(freeze_epochs, epochs)
    phases = [Phase(start_epoch, freeze_end, True), Phase(max(start_epoch, freeze_end), epochs, False)]
    return [p for p in phases if p.first_epoch < p.end_epoch]


def set_backbone_trainable(net: nn.Cell, trainable: bool) -> None:
    """Freeze (or unfreeze) every weight but the classifier's (BN moving statistics never train; the stages that
    models.freeze_stages froze stay frozen)."""
    head = {id(p) for p in net.get_classifier().get_parameters()}
    for param in net.get_parameters():
        if id(param) not in head and not param.name.endswith(("moving_mean", "moving_variance")) \
                and not getattr(param, "frozen_stage", False):
            param.requires_grad = trainable


def use_sink_mode(setting: str, device_target: str, ema: bool) -> bool:
    """`dataset_sink_mode` auto | true | false: auto sinks on Ascend unless the EMA updates after every step."""
    if setting == "auto":
        return device_target == "Ascend" and not ema
    return setting == "true"


def resume_skip(state: Optional[Dict], start_epoch: int, steps_per_epoch: int, path: str, sink: bool) -> int:
    """The batches of epoch `start_epoch` a checkpoint written mid-epoch (on a signal) has already trained."""
    if state is None or "step_in_epoch" not in state:
        return 0
    skip = int(state["step_in_epoch"].asnumpy())
    step = int(state["global_step"].asnumpy().reshape(-1)[0])
    if not 0 < skip < steps_per_epoch or step != start_epoch * steps_per_epoch + skip:
        raise CheckpointError(f"'{path}' was written after step {skip} of epoch {start_epoch + 1} (global step "
                              f"{step}), which does not fit epochs of {steps_per_epoch} steps: resume it with the "
                              f"data, batch size and device count of the run that wrote it")
    if sink:
        raise CheckpointError(f"'{path}' was written inside an epoch; resume it with --dataset_sink_mode false")
    LOG.info(f"resume: {skip} of the {steps_per_epoch} steps of epoch {start_epoch + 1} were trained before the "
             f"interruption; their batches are drawn and skipped")
    return skip


def _on_host(value):
    """A copy of the network's outputs (a Tensor or a tuple of them) in new host memory."""
    if isinstance(value, (tuple, list)):
        return type(value)(_on_host(v) for v in value)
    return ms.Tensor(value.asnumpy()) if isinstance(value, ms.Tensor) else value


class HostOutputs(nn.Cell):
    """The train network, its outputs returned as host copies. `ms.Model` keeps a step's outputs (its `outputs`
    variable and the callbacks' `net_outputs`) while the next step runs, and MindSpore's CPU memory pool, with a
    graph output still held, grows by a further block: ghostnet_100's training at batch 32 peaked at 2352 MiB for
    three steps and 3149 MiB from the fourth on (docs/performance.md, Memory). Parameter names are the network's."""

    def __init__(self, network: nn.Cell):
        super().__init__(auto_prefix=False)
        self.network = network
        self.compiled_signatures = set()

    def construct(self, *inputs):
        return self.network(*inputs)

    def __call__(self, *inputs):
        compile_first(self, inputs, self.compiled_signatures)
        return _on_host(super().__call__(*inputs))


class _Model(ms.Model):
    """ms.Model whose train network (unsunk) hands back its outputs on the host (`HostOutputs`)."""

    def _build_train_network(self):
        return HostOutputs(super()._build_train_network())


class Trainer:
    """Trains `net` with `loss_fn` through `ms.Model`.

    make_optimizer: builds the optimizer over the currently trainable parameters (called once per phase).
    amp_level / loss_scale_manager: as `resolve_amp` returns them. callbacks: MindSpore callbacks.
    loss_network: a cell computing the loss from (images, labels) to train instead of `net` with `loss_fn`
    (e.g. distill.DistillationNetwork around `net`); `net` stays what the phases freeze and the optimizer holds.
    """

    def __init__(self, net: nn.Cell, loss_fn: nn.Cell, make_optimizer: Callable[[], nn.Optimizer], *,
                 amp_level: str = "O0", loss_scale_manager=None, sink: bool = False,
                 callbacks: Sequence = (), loss_network: Optional[nn.Cell] = None):
        self.net = net
        self.loss_fn = loss_fn
        self.loss_network = loss_network
        self.make_optimizer = make_optimizer
        self.amp_level = amp_level
        self.loss_scale_manager = loss_scale_manager
        self.sink = sink
        self.callbacks = list(callbacks)

    def fit(self, make_loader: Callable[[int], Loader], phases: Sequence[Phase], steps_per_epoch: int, *,
            augmentation_seed: Callable[[int], int], resume_state: Optional[Dict] = None,
            resume_path: str = "", first_loader: Optional[Loader] = None) -> None:
        """Train the `phases`; make_loader(epoch) builds the pipeline that starts at `epoch` (0-based).

        resume_state: a training checkpoint's optimizer entries, restored into the first phase's optimizer.
        first_loader: the pipeline of the first epoch, when the caller built it already (to log its size).
        """
        start = phases[0].first_epoch if phases else 0
        skip = resume_skip(resume_state, start, steps_per_epoch, resume_path, self.sink)
        for phase in phases:
            set_backbone_trainable(self.net, not phase.frozen)
            optimizer = self.make_optimizer()
            if resume_state is not None and phase.first_epoch == start:
                restore_optimizer(resume_state, optimizer, resume_path)
            else:
                optimizer.global_step.set_data(ms.Tensor([phase.first_epoch * steps_per_epoch], ms.int32))
            network, loss_fn = (self.loss_network, None) if self.loss_network is not None else (self.net, self.loss_fn)
            # sinking runs the train network inside MindSpore's data cell, which never calls HostOutputs.__call__
            model_class = ms.Model if self.sink else _Model
            model = model_class(network, loss_fn, optimizer, amp_level=self.amp_level,
                                loss_scale_manager=self.loss_scale_manager,
                                keep_batchnorm_fp32=True if self.amp_level != "O0" else None)
            segments = ([(phase.first_epoch, phase.end_epoch)] if self.sink else
                        [(e, e + 1) for e in range(phase.first_epoch, phase.end_epoch)])
            for first, end in segments:
                # MindSpore refuses to feed one dataset object to a second Model: only the very first is reused
                loader = first_loader if (first_loader is not None and first == start) else make_loader(first)
                first_loader = None
                # skip() still runs the skipped batches through the pipeline: later batches draw as they did
                dataset = loader.dataset.skip(skip) if skip and first == start else loader.dataset
                ds.config.set_seed(augmentation_seed(first))
                with pipeline_errors():
                    model.train(end, dataset, callbacks=self.callbacks, dataset_sink_mode=self.sink,
                                initial_epoch=first)
        set_backbone_trainable(self.net, True)
