"""Data parallelism in one process (src/distributed.py): what each launcher's environment means, the distribute
setting, and the cross-rank agreement checks, run in lockstep threads. The multi-process runs are in
tests/e2e/test_launchers.py."""
import json
import threading

import numpy as np
import pytest

from tests.support import build_config
from src.distributed import LaunchEnv, check_rank_table, rank_spread, read_launch_env, wants_distributed
from src.errors import ConfigError
from src.rank_table import build_rank_table
from tests.support import DEVICE_IPS as IPS


def test_single_process_needs_nothing():
    assert read_launch_env({}) == LaunchEnv()
    assert read_launch_env({"DEVICE_ID": "3", "RANK_SIZE": "1"}).device_id == 3
    assert not wants_distributed("auto", read_launch_env({}))


def test_msrun_worker_and_scheduler():
    env = {"MS_ROLE": "MS_WORKER", "MS_WORKER_NUM": "2", "RANK_ID": "1", "DEVICE_ID": "1", "RANK_SIZE": "2",
           "MS_SCHED_HOST": "127.0.0.1", "MS_SCHED_PORT": "8118"}
    got = read_launch_env(env)
    assert (got.launcher, got.rank, got.group_size, got.device_id, got.scheduler) == ("msrun", 1, 2, 1, False)
    sched = read_launch_env(dict(env, MS_ROLE="MS_SCHED"))
    assert sched.scheduler and sched.launched
    # across machines without --node_rank msrun assigns ranks when communication starts
    assert read_launch_env({"MS_ROLE": "MS_WORKER", "MS_WORKER_NUM": "16"}).rank == -1
    with pytest.raises(ConfigError, match="MS_WORKER_NUM"):
        read_launch_env({"MS_ROLE": "MS_WORKER"})
    with pytest.raises(ConfigError, match="MS_ROLE='MS_PSERVER'"):
        read_launch_env({"MS_ROLE": "MS_PSERVER", "MS_WORKER_NUM": "2"})


def test_mpirun():
    got = read_launch_env({"OMPI_COMM_WORLD_RANK": "5", "OMPI_COMM_WORLD_SIZE": "8",
                           "OMPI_COMM_WORLD_LOCAL_RANK": "1"})
    assert (got.launcher, got.rank, got.group_size, got.device_id) == ("mpirun", 5, 8, 1)


def test_rank_table_environment(tmp_path):
    table = tmp_path / "hccl.json"
    table.write_text(json.dumps(build_rank_table(IPS[:4], "10.0.0.1", [4, 5, 6, 7])))
    env = {"RANK_TABLE_FILE": str(table), "RANK_SIZE": "4", "RANK_ID": "2", "DEVICE_ID": "6"}
    got = read_launch_env(env)
    assert (got.launcher, got.rank, got.group_size, got.device_id) == ("rank_table", 2, 4, 6)
    check_rank_table(got)
    with pytest.raises(ConfigError, match="RANK_SIZE=8 but the rank table .* lists 4 devices"):
        check_rank_table(read_launch_env(dict(env, RANK_SIZE="8")))
    with pytest.raises(ConfigError, match="DEVICE_ID=2 but the rank table .* gives rank 2 device 6"):
        check_rank_table(read_launch_env(dict(env, DEVICE_ID="2")))
    with pytest.raises(ConfigError, match="RANK_ID or DEVICE_ID is not"):
        read_launch_env({"RANK_TABLE_FILE": str(table), "RANK_SIZE": "4"})


def test_a_stray_rank_size_is_refused():
    # eight processes each training on the whole data set: the reference's silent failure
    with pytest.raises(ConfigError, match="RANK_SIZE=8 is set, but no launcher"):
        read_launch_env({"RANK_SIZE": "8", "RANK_ID": "3"})
    with pytest.raises(ConfigError, match="RANK_ID='x': expected an integer"):
        read_launch_env({"MS_ROLE": "MS_WORKER", "MS_WORKER_NUM": "2", "RANK_ID": "x"})


def test_distribute_setting():
    launched = LaunchEnv("msrun", 0, 2)
    assert wants_distributed("auto", launched) and wants_distributed("true", launched)
    with pytest.raises(ConfigError, match="no launcher started this process"):
        wants_distributed("true", LaunchEnv())
    with pytest.raises(ConfigError, match="distribute is false but msrun started this process as one of 2"):
        wants_distributed("false", launched)
    assert build_config(["--distribute", "True"]).distribute == "true"  # MindCV's spelling


def _in_lockstep(fn, inputs):
    """Run fn(rank, reduce) for every rank in threads, with `reduce` an all-reduce sum over the threads."""
    n = len(inputs)
    barrier, slots, results = threading.Barrier(n), [None] * n, [None] * n

    def reducer(rank):
        def reduce(values):
            slots[rank] = np.asarray(values, np.float32)
            barrier.wait()
            total = sum(slots)
            barrier.wait()
            return total
        return reduce

    def run(rank):
        results[rank] = fn(rank, reducer(rank))
    threads = [threading.Thread(target=run, args=(r,)) for r in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_rank_spread_sees_a_difference():
    copies = [[np.ones(5, np.float32), np.zeros((2, 2), np.float32)] for _ in range(3)]
    assert _in_lockstep(lambda r, reduce: rank_spread(copies[r], r, 3, reduce), copies) == [0.0] * 3
    copies[2][1][1, 1] = 0.25
    assert _in_lockstep(lambda r, reduce: rank_spread(copies[r], r, 3, reduce), copies) == [0.25] * 3


def test_weight_agreement_tells_weights_from_bn_statistics():
    import mindspore as ms
    from src.distributed import weight_agreement
    from src.models import create_model
    nets = []
    for _ in range(2):
        ms.set_seed(0)
        np.random.seed(0)
        nets.append(create_model("mobilenet_v1_025", num_classes=3))

    def agreement():
        return _in_lockstep(lambda r, reduce: weight_agreement(nets[r], r, 2, reduce), nets)
    assert agreement() == [{"weights": 0.0, "bn_statistics": 0.0}] * 2
    stats = nets[1].bn1.moving_mean
    stats.set_data(ms.Tensor(stats.asnumpy() + 0.5))
    assert agreement() == [{"weights": 0.0, "bn_statistics": 0.5}] * 2
    weight = nets[1].classifier.weight
    weight.set_data(ms.Tensor(weight.asnumpy() - 0.25))
    assert [a["weights"] for a in agreement()] == [0.25, 0.25]
