"""Exponential moving average (EMA) of a network's weights and BatchNorm statistics, kept on the device.

decay_t = min(decay, (1 + t) / (10 + t)) at update t (the usual warm-up, so short runs are not dominated by the
initial weights). Validation and the best checkpoint use the averaged weights when EMA is on; the average is also
written as a plain network checkpoint `<model>_ema.ckpt` (loadable by eval.py) whenever training checkpoints are.
"""
import os
from typing import Optional

import mindspore as ms
from mindspore import nn, ops

from ..outputs import atomic_save_checkpoint
from .checkpoint import read_checkpoint
from .run_files import ema_name

_ema_update = ops.MultitypeFuncGraph("ema_update")


@_ema_update.register("Tensor", "Tensor", "Tensor")
def _update(decay, average, value):
    return ops.assign(average, average * decay + value * (1.0 - decay))


class WeightEMA(nn.Cell):
    """Holds `ema.<name>` copies of every parameter of `net`; calling it performs one update (a compiled graph)."""

    def __init__(self, net: nn.Cell, decay: float):
        super().__init__(auto_prefix=False)
        self.params = ms.ParameterTuple(list(net.get_parameters()))
        self.averages = self.params.clone(prefix="ema", init="same")
        self.decay = ms.Tensor(decay, ms.float32)
        self.updates = ms.Parameter(ms.Tensor(0.0, ms.float32), name="ema_updates", requires_grad=False)
        self.hyper_map = ops.HyperMap()

    def construct(self):
        t = self.updates + 1.0
        ops.assign(self.updates, t)
        decay = ops.minimum(self.decay, (1.0 + t) / (10.0 + t))
        return self.hyper_map(ops.partial(_update, decay), self.averages, self.params)

    def state(self) -> dict:
        """The averages under the network's own parameter names, plus the update count."""
        out = {p.name[len("ema."):]: ms.Tensor(p.asnumpy()) for p in self.averages}
        out["ema_updates"] = ms.Tensor(self.updates.asnumpy())
        return out

    def load_state(self, state: dict) -> None:
        for param in self.averages:
            param.set_data(ms.Tensor(state[param.name[len("ema."):]].asnumpy(), param.dtype))
        self.updates.set_data(ms.Tensor(state["ema_updates"].asnumpy(), ms.float32))

    def swap(self) -> None:
        """Exchange the network's values with the averages (call twice to restore)."""
        for param, average in zip(self.params, self.averages):
            current = param.asnumpy().copy()
            param.set_data(ms.Tensor(average.asnumpy(), param.dtype))
            average.set_data(ms.Tensor(current, average.dtype))


def save_ema(ema: WeightEMA, path: str, extra: Optional[dict] = None) -> None:
    """Write the average as a plain network checkpoint (plus `extra` entries, e.g. the model record), atomically
    (see outputs.atomic_save_checkpoint)."""
    atomic_save_checkpoint([{"name": k, "data": v} for k, v in ema.state().items()], path, append_dict=extra)


def resume_ema(ema: WeightEMA, resume_path: str, model: str) -> str:
    """Continue the average saved beside the resumed checkpoint (`<model>_ema.ckpt`); return the log line."""
    path = os.path.join(os.path.dirname(os.path.abspath(resume_path)), ema_name(model))
    if os.path.isfile(path):
        ema.load_state(read_checkpoint(path))
        return f"resume: EMA weights from {path}"
    return f"resume: no {path}; the EMA restarts from the resumed weights"
