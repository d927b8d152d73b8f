"""Process set-up in one place: device target, execution mode, seeds, and (through distributed.py, the only reader
of the launchers' variables) rank and group size. The CPU kernel choice happens when the package is imported
(src/__init__.py)."""
import ctypes
import ctypes.util
import logging
import os
import random
import sys
from dataclasses import dataclass
from typing import Optional, Sequence, Set

import mindspore as ms
import mindspore.dataset as ds
import numpy as np

from .distributed import all_reduce_sum, init_data_parallel, read_launch_env, wants_distributed
from .errors import ConfigError

LOG = logging.getLogger("ghostzoo")


@dataclass
class Runtime:
    device_target: str
    rank: int = 0
    group_size: int = 1
    launcher: str = ""      # what started a distributed run: msrun | mpirun | rank_table ("" for one process)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.group_size > 1

    def sum_across_ranks(self, values):
        """Element-wise sum of `values` over the ranks (the values themselves in a one-process run)."""
        if not self.distributed:
            return np.asarray(values, np.float32)
        return all_reduce_sum(values)


def default_device_target() -> str:
    """The device the installed MindSpore package was built for (CPU, GPU or Ascend)."""
    return ms.get_context("device_target")


def refuse_compile_cache(mode: str) -> None:
    """MindSpore's graph compile cache keys a graph by the entry script's source files alone, so one entry script
    serving every model and recipe would run a graph compiled for other settings: train.py with
    --label_smooth_factor 0.5 trained on the cached 0.1 graph, loss for loss (docs/performance.md)."""
    if mode != "graph":
        return
    if os.environ.get("MS_COMPILER_CACHE_ENABLE") == "1":
        source, remedy = "MS_COMPILER_CACHE_ENABLE=1", "unset MS_COMPILER_CACHE_ENABLE"
    elif ms.get_context("enable_compile_cache"):
        source, remedy = "enable_compile_cache=True", "leave enable_compile_cache out of ms.set_context"
    else:
        return
    raise ConfigError(f"{source}: MindSpore's compile cache reuses a graph compiled for another model or recipe "
                      "without noticing (it checks only the entry script's files), so training and scoring would "
                      f"be silently wrong; {remedy}")


def setup_runtime(device_target: str = "auto", device_id: int = 0, mode: str = "graph", seed: int = 1,
                  distribute: str = "auto", device_id_given: bool = False) -> Runtime:
    """Choose the device and execution mode, join the launcher's group when there is one, and seed every
    generator. A launcher's DEVICE_ID wins over `device_id` unless the user gave it (`device_id_given`)."""
    refuse_compile_cache(mode)
    env = read_launch_env()
    distributed = wants_distributed(distribute, env)

    available = default_device_target()
    target = available if device_target == "auto" else device_target
    if target != available and target != "CPU":
        raise ConfigError(f"device_target '{target}' is not available: the installed MindSpore package runs on "
                          f"{available}; install the {target} build or pass --device_target {available}")
    if env.device_id is not None and (distributed or not device_id_given):
        device_id = env.device_id  # the launcher's DEVICE_ID / local rank (the model zoo's scripts export it)
    if ms.get_context("device_target") != target or target != "CPU":
        ms.set_device(target, device_id)
    ms.set_context(mode=ms.GRAPH_MODE if mode == "graph" else ms.PYNATIVE_MODE)
    rank, group_size = init_data_parallel(env) if distributed else (0, 1)
    # The augmentation streams get the rank added, so that ranks do not crop alike. ds.config.set_seed also
    # re-seeds NumPy and `random`, which weight initialisation draws from, so the common seed (identical initial
    # weights on every rank) is set after it. The sampler shuffles with the seed: one permutation for all ranks.
    ds.config.set_seed(seed + rank)
    ms.set_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    return Runtime(device_target=target, rank=rank, group_size=group_size,
                   launcher=env.launcher if distributed else "")


def setup_logging(log_file: str = "") -> logging.Logger:
    """Plain message lines on stdout (the model zoo's format, which users' log parsers read), and a file copy."""
    LOG.setLevel(logging.INFO)
    LOG.propagate = False
    for handler in list(LOG.handlers):
        LOG.removeHandler(handler)
        handler.close()
    stream = logging.StreamHandler(sys.stdout)
    stream.setFormatter(logging.Formatter("%(message)s"))
    LOG.addHandler(stream)
    if log_file:
        os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
        file_handler = logging.FileHandler(log_file)
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        LOG.addHandler(file_handler)
    return LOG


_LIBC = {}


def _malloc_trim():
    """glibc's malloc_trim, or None under another C library (musl, macOS), which has no such call."""
    if "trim" not in _LIBC:
        name = ctypes.util.find_library("c")
        lib = ctypes.CDLL(name) if name else None
        _LIBC["trim"] = getattr(lib, "malloc_trim", None)
    return _LIBC["trim"]


def release_freed_memory() -> bool:
    """Give the system back the heap pages that freed allocations left resident (glibc's malloc_trim(0)); whether
    it could. Compiling a graph frees 30-190 MiB of small allocations amid the heap, which glibc keeps and the
    steps' large blocks do not reuse, so every later step's peak carried them (docs/performance.md, Memory)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def input_signature(inputs: Sequence) -> tuple:
    """What a graph is compiled for: each input's shape and dtype (a non-tensor input by its value)."""
    return tuple((tuple(x.shape), x.dtype) if isinstance(x, ms.Tensor) else repr(x) for x in inputs)


def compile_first(cell, inputs: Sequence, compiled: Optional[Set[tuple]] = None) -> None:
    """In graph mode, compile `cell` for `inputs` before it runs them and release what compiling freed
    (release_freed_memory); with `compiled`, only for a signature not in it (then added). PyNative: nothing."""
    if ms.get_context("mode") != ms.GRAPH_MODE or os.environ.get("MS_JIT") == "0":  # as Cell.__call__ decides
        return
    if compiled is not None:
        signature = input_signature(inputs)
        if signature in compiled:
            return
        compiled.add(signature)
    cell.compile(*inputs)
    release_freed_memory()


def graph_runner(cell):
    """cell(*inputs), each new input signature compiled first (compile_first): the call evaluation and
    prediction make."""
    compiled: Set[tuple] = set()

    def run(*inputs):
        compile_first(cell, inputs, compiled)
        return cell(*inputs)
    return run
