"""Process set-up in one place: the CPU kernel choice, device target, execution mode and seeds.

Environment variables are read here only. Distributed set-up (rank, group size) also belongs here.
"""
import logging
import os
import random
import sys
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError

LOG = logging.getLogger("ghostzoo")


def configure_cpu_kernels() -> None:
    """Cap oneDNN at AVX2 unless the user chose otherwise.

    On AVX-512 CPUs oneDNN's default picks a reference kernel for grouped (depthwise) convolutions that ran
    10-75x slower here; the variable must be set before the first operator runs.
    """
    os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")


@dataclass
class Runtime:
    device_target: str
    rank: int = 0
    group_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def default_device_target() -> str:
    """The device the installed MindSpore package was built for (CPU, GPU or Ascend)."""
    import mindspore as ms
    return ms.get_context("device_target")


def setup_runtime(cfg) -> Runtime:
    """Choose the device and execution mode and seed every generator, from config values."""
    configure_cpu_kernels()
    import mindspore as ms
    import mindspore.dataset as ds

    target = default_device_target() if cfg.device_target == "auto" else cfg.device_target
    available = default_device_target()
    if target != available and target != "CPU":
        raise ConfigError(f"device_target '{target}' is not available: the installed MindSpore package runs on "
                          f"{available}; install the {target} build or pass --device_target {available}")
    if ms.get_context("device_target") != target or target != "CPU":
        ms.set_device(target, cfg.device_id)
    ms.set_context(mode=ms.GRAPH_MODE if cfg.mode == "graph" else ms.PYNATIVE_MODE)
    ms.set_seed(cfg.seed)
    np.random.seed(cfg.seed)
    random.seed(cfg.seed)
    ds.config.set_seed(cfg.seed)
    return Runtime(device_target=target)


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
