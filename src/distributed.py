"""Distributed runs in one place: which launcher started this process, communication set-up, data-parallel mode,
and the few collective operations training and evaluation need.

Launchers and what they set:
  - msrun (any device; the modern MindSpore launch): MS_ROLE (MS_WORKER, or MS_SCHED for the scheduler process,
    which runs the same script), MS_WORKER_NUM, MS_SCHED_HOST/PORT, RANK_ID (unless ranks are assigned at
    `init()`, multi-node without --node_rank), DEVICE_ID (the local rank);
  - mpirun (GPU): OMPI_COMM_WORLD_RANK / _SIZE / _LOCAL_RANK;
  - an HCCL rank table (Ascend, scripts/run_distribute_train.sh): RANK_TABLE_FILE, RANK_ID, RANK_SIZE, DEVICE_ID.
Nothing else reads these variables; rank and group size travel as values (`Runtime`).
"""
import os
from dataclasses import dataclass
from typing import Dict, Mapping, Optional

import mindspore as ms
import numpy as np
from mindspore import ops
from mindspore.communication import get_group_size, get_rank, init

from .errors import ConfigError
from .rank_table import parse_rank_table


@dataclass(frozen=True)
class LaunchEnv:
    launcher: str = ""               # "" (a single process) | "msrun" | "mpirun" | "rank_table"
    rank: int = 0                    # -1: assigned when communication starts (msrun across nodes, no node rank)
    group_size: int = 1
    device_id: Optional[int] = None  # the device this rank drives, when the launcher says
    rank_table: str = ""
    scheduler: bool = False          # msrun's scheduler process

    @property
    def launched(self) -> bool:
        return bool(self.launcher)


def _env_int(env: Mapping[str, str], key: str, default: Optional[int] = None) -> Optional[int]:
    value = env.get(key, "")
    if value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"environment variable {key}={value!r}: expected an integer") from None


def read_launch_env(environ: Optional[Mapping[str, str]] = None) -> LaunchEnv:
    """What the launcher (if any) told this process, from `environ` (default: os.environ)."""
    env = os.environ if environ is None else environ
    role = env.get("MS_ROLE", "")
    if role:
        if role not in ("MS_WORKER", "MS_SCHED"):
            raise ConfigError(f"MS_ROLE={role!r}: expected MS_WORKER or MS_SCHED (set by msrun)")
        size = _env_int(env, "MS_WORKER_NUM")
        if size is None or size < 1:
            raise ConfigError("MS_ROLE is set but MS_WORKER_NUM is not a positive integer: start the job with msrun")
        return LaunchEnv("msrun", _env_int(env, "RANK_ID", -1), size, _env_int(env, "DEVICE_ID"),
                         env.get("RANK_TABLE_FILE", ""), scheduler=role == "MS_SCHED")
    if "OMPI_COMM_WORLD_SIZE" in env:
        return LaunchEnv("mpirun", _env_int(env, "OMPI_COMM_WORLD_RANK", 0), _env_int(env, "OMPI_COMM_WORLD_SIZE"),
                         _env_int(env, "OMPI_COMM_WORLD_LOCAL_RANK", 0))
    size = _env_int(env, "RANK_SIZE", 1)
    table = env.get("RANK_TABLE_FILE", "")
    if size > 1 and table:
        rank, device = _env_int(env, "RANK_ID"), _env_int(env, "DEVICE_ID")
        if rank is None or device is None:
            raise ConfigError(f"RANK_TABLE_FILE and RANK_SIZE={size} are set but RANK_ID or DEVICE_ID is not: "
                              f"start the job with scripts/run_distribute_train.sh, which sets all four")
        return LaunchEnv("rank_table", rank, size, device, table)
    if size > 1:
        raise ConfigError(f"RANK_SIZE={size} is set, but no launcher started this process as one of {size} ranks "
                          f"(no RANK_TABLE_FILE, no msrun or mpirun variables); each process would train on the "
                          f"whole data set alone. Launch with scripts/run_distribute_train*.sh or msrun, or unset "
                          f"RANK_SIZE for a single-process run")
    return LaunchEnv(device_id=_env_int(env, "DEVICE_ID"))


def check_rank_table(env: LaunchEnv) -> None:
    """The rank table exists, parses, and agrees with RANK_SIZE / RANK_ID / DEVICE_ID (a mismatch hangs HCCL)."""
    table = parse_rank_table(env.rank_table)
    if table.size != env.group_size:
        raise ConfigError(f"RANK_SIZE={env.group_size} but the rank table '{env.rank_table}' lists {table.size} "
                          f"devices")
    entry = table.rank(env.rank)
    if env.device_id is not None and entry.device_id != env.device_id:
        raise ConfigError(f"DEVICE_ID={env.device_id} but the rank table '{env.rank_table}' gives rank {env.rank} "
                          f"device {entry.device_id}")


def wants_distributed(setting: str, env: LaunchEnv) -> bool:
    """Apply the `distribute` config key (auto | true | false) to what the launcher set."""
    if setting == "true" and not env.launched:
        raise ConfigError("distribute is true but no launcher started this process: run it under msrun (e.g. "
                          "scripts/run_distribute_train_msrun.sh), mpirun, or scripts/run_distribute_train.sh")
    if setting == "false" and env.launched and env.group_size > 1:
        raise ConfigError(f"distribute is false but {env.launcher} started this process as one of "
                          f"{env.group_size} ranks; every rank would train alone on the whole data set")
    return env.launched and setting != "false"


def init_data_parallel(env: LaunchEnv) -> tuple:
    """Start collective communication (HCCL, NCCL or MCCL, as the device says) and data-parallel mode with the
    gradient mean; return (rank, group size). msrun's scheduler process serves the job inside init() and exits
    there."""
    if env.launcher == "rank_table":
        check_rank_table(env)
    try:
        init()
    except RuntimeError as e:
        hint = ("; MindSpore's CPU collectives run under msrun only (scripts/run_distribute_train_cpu.sh)"
                if env.launcher == "mpirun" and ms.get_context("device_target") == "CPU" else "")
        raise RuntimeError(f"starting collective communication for rank {env.rank} of {env.group_size} "
                           f"({env.launcher}) failed{hint}: {str(e).strip()[:500]}") from e
    rank, size = get_rank(), get_group_size()
    if env.rank >= 0 and rank != env.rank:
        raise RuntimeError(f"communication gave rank {rank}, but the launcher set rank {env.rank}")
    if size != env.group_size:
        raise RuntimeError(f"communication gave a group of {size}, but the launcher set {env.group_size}")
    ms.reset_auto_parallel_context()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True)
    return rank, size


def all_reduce_sum(values: np.ndarray) -> np.ndarray:
    """Element-wise sum over all ranks, as float32 (the one AllReduce every backend supports on CPU too)."""
    return ops.AllReduce()(ms.Tensor(np.asarray(values, np.float32))).asnumpy()


def rank_spread(arrays, rank: int, group_size: int, reduce=all_reduce_sum) -> float:
    """max |x_rank - x_rank0| over the elements of `arrays` and over all ranks (0.0: every rank holds the same)."""
    if not arrays:
        return 0.0
    flat = np.concatenate([np.asarray(a, np.float32).ravel() for a in arrays])
    rank0 = reduce(flat if rank == 0 else np.zeros_like(flat))  # rank 0's values, everywhere
    mine = np.zeros(group_size, np.float32)
    mine[rank] = float(np.max(np.abs(flat - rank0)))
    return float(np.max(reduce(mine)))


def weight_agreement(net, rank: int, group_size: int, reduce=all_reduce_sum) -> Dict[str, float]:
    """How far the ranks' copies of `net` are apart: trainable weights (kept identical by the gradient all-reduce)
    and the BN running statistics (computed from each rank's own batches, not synchronised)."""
    trainable = {id(p) for p in net.trainable_params()}
    params = list(net.get_parameters())  # a generator: read twice below
    weights = [p.asnumpy() for p in params if id(p) in trainable]
    running = [p.asnumpy() for p in params if p.name.endswith(("moving_mean", "moving_variance"))]
    return {"weights": rank_spread(weights, rank, group_size, reduce),
            "bn_statistics": rank_spread(running, rank, group_size, reduce)}


def report_rank_agreement(net, rank: int, group_size: int, log) -> Dict[str, float]:
    """Check, and log on every rank, that the ranks ended with the same weights (the gradient all-reduce keeps
    them identical; BN running statistics come from each rank's own batches and are expected to differ)."""
    spread = weight_agreement(net, rank, group_size)
    log.info(f"rank agreement over {group_size} ranks: trainable weights max |w_rank - w_rank0| = "
             f"{spread['weights']:.3g}; BN running statistics differ by up to {spread['bn_statistics']:.3g} "
             f"(per-rank batches; the checkpoints hold rank 0's)")
    if spread["weights"] > 0:
        log.warning(f"the ranks' trainable weights differ by up to {spread['weights']:.3g}: gradients were not "
                    f"all-reduced identically")
    return spread
