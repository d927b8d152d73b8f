"""Distributed pieces that run in one process: launcher environments, rank tables, sharding, count reduction, lr
scaling. The multi-process runs are in test_launchers.py."""
import json
import re
import os
import threading

import numpy as np
import pytest
from PIL import Image

from tests.support import build_config
from src.data.sharding import ShardSampler, read_sample_record, shard_indices
from src.distributed import LaunchEnv, check_rank_table, rank_spread, read_launch_env, wants_distributed
from src.engine.evaluation import TopKAccumulator
from src.engine.optim import linear_lr_scale
from src.errors import ConfigError
from src.rank_table import (RankTableError, build_rank_table, merge_rank_tables, parse_rank_table, read_hccn_conf,
                            select_server)
from src.tools import rank_table as rank_table_tool
from src.tools.compare_checkpoints import compare
from tests.support import DEVICE_IPS as IPS, make_loader, write_json as _write



# ---------------------------------------------------------------- launcher environments

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


# ---------------------------------------------------------------- rank tables

def test_rank_table_versions(tmp_path):
    one = build_rank_table(IPS, "10.0.0.1")
    table = parse_rank_table(_write(tmp_path / "v10.json", one))
    assert (table.version, table.size, table.servers) == ("1.0", 8, ["10.0.0.1"])
    assert [d.device_id for d in table.devices] == list(range(8)) and table.rank(3).device_ip == IPS[3]
    # 1.1 / 1.2 add per-server and per-device fields
    newer = json.loads(json.dumps(one))
    newer["version"] = "1.2"
    newer["server_list"][0]["host_ip"] = "10.0.0.1"
    for device in newer["server_list"][0]["device"]:
        device["super_device_id"] = str(37748736 + int(device["device_id"]))
    newer["super_pod_list"] = [{"super_pod_id": "0", "server_list": [{"server_id": "10.0.0.1"}]}]
    assert parse_rank_table(_write(tmp_path / "v12.json", newer)).size == 8
    newer["version"] = "1.1"
    assert parse_rank_table(_write(tmp_path / "v11.json", newer)).version == "1.1"
    legacy = {"board_id": "0x0000", "chip_info": "910", "deploy_mode": "lab", "group_count": "1",
              "group_list": [{"device_num": "2", "server_num": "1", "group_name": "", "instance_count": "2",
                              "instance_list": [{"devices": [{"device_id": str(i), "device_ip": IPS[i]}],
                                                 "rank_id": str(i), "server_id": "10.0.0.1"} for i in range(2)]}],
              "status": "completed"}
    assert parse_rank_table(_write(tmp_path / "legacy.json", legacy)).size == 2


def test_rank_table_errors(tmp_path):
    good = build_rank_table(IPS[:4], "10.0.0.1")

    def broken(change):
        data = json.loads(json.dumps(good))
        change(data)
        return _write(tmp_path / "t.json", data)

    devices = lambda d: d["server_list"][0]["device"]  # noqa: E731
    cases = [
        (lambda d: d.update(status="initializing"), "status is 'initializing'"),
        (lambda d: d.update(version="2.0"), "version '2.0'"),
        (lambda d: d.update(server_count="2"), "server_count is 2 but server_list has 1"),
        (lambda d: devices(d)[1].update(rank_id="0"), r"duplicated \[0\], missing \[1\]"),
        (lambda d: devices(d)[3].update(rank_id="7"), r"missing \[3\]"),
        (lambda d: devices(d)[1].update(device_id="0"), "device 0 of server 10.0.0.1 is listed twice"),
        (lambda d: devices(d)[1].update(device_ip="192.168.1"), "device_ip is '192.168.1', expected an IP"),
        (lambda d: devices(d)[2].update(device_ip=IPS[0]), f"device_ip {IPS[0]} is given to ranks 0 and 2"),
        (lambda d: devices(d)[0].pop("rank_id"), "has no 'rank_id'"),
        (lambda d: devices(d)[0].update(device_id="x"), "device_id is 'x', expected an integer"),
        (lambda d: d.pop("server_list"), "neither server_list nor group_list"),
    ]
    for change, message in cases:
        with pytest.raises(RankTableError, match=message):
            parse_rank_table(broken(change))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(RankTableError, match="not readable JSON"):
        parse_rank_table(str(tmp_path / "bad.json"))
    with pytest.raises(RankTableError, match="does not exist"):
        parse_rank_table(str(tmp_path / "missing.json"))


def test_multi_server_tables(tmp_path):
    merged = merge_rank_tables([build_rank_table(IPS[:4], "10.0.0.1"),
                                build_rank_table([ip.replace("192.168", "192.169") for ip in IPS[:4]], "10.0.0.2")])
    table = parse_rank_table(_write(tmp_path / "m.json", merged))
    assert table.size == 8 and table.servers == ["10.0.0.1", "10.0.0.2"]
    assert [d.rank_id for d in table.server_devices("10.0.0.2")] == [4, 5, 6, 7]
    assert [d.device_id for d in table.server_devices("10.0.0.2")] == [0, 1, 2, 3]
    assert select_server(table, "1") == "10.0.0.2" and select_server(table, "10.0.0.1") == "10.0.0.1"
    assert select_server(table, addresses=["127.0.0.1", "10.0.0.2"]) == "10.0.0.2"
    with pytest.raises(RankTableError, match="none matches this machine's addresses; set SERVER_ID"):
        select_server(table, addresses=["127.0.0.1"])
    with pytest.raises(RankTableError, match="server '10.0.0.9' is not in"):
        select_server(table, "10.0.0.9")


def test_rank_table_tool(tmp_path, capsys, monkeypatch):
    out = tmp_path / "t.json"
    assert rank_table_tool.main(["write", "--device_ips", ",".join(IPS[:2]), "--devices", "4,5", "--server_ip",
                                 "10.0.0.1", "-o", str(out)]) == 0
    assert [(d.rank_id, d.device_id) for d in parse_rank_table(str(out)).devices] == [(0, 4), (1, 5)]
    conf = tmp_path / "hccn.conf"
    conf.write_text("".join(f"address_{i}={IPS[i]}\nnetmask_{i}=255.255.255.0\n" for i in range(8)))
    assert read_hccn_conf(str(conf))[7] == IPS[7]
    monkeypatch.chdir(tmp_path)
    assert rank_table_tool.main(["write", "--hccn_conf", str(conf), "--devices", "0-3", "--server_ip",
                                 "10.0.0.1"]) == 0
    assert (tmp_path / "hccl_4p_0123_10.0.0.1.json").is_file()  # hccl_tools' file name
    capsys.readouterr()
    assert rank_table_tool.main(["plan", str(out)]) == 0
    assert capsys.readouterr().out.split("\n")[:3] == ["RANK_SIZE=2", "0 4", "1 5"]
    assert rank_table_tool.main(["write", "--hccn_conf", str(conf), "--devices", "8", "--server_ip", "1.2.3.4"]) == 2
    assert "no address for devices [8]" in capsys.readouterr().err
    assert rank_table_tool.main(["check", str(tmp_path / "none.json")]) == 2


# ---------------------------------------------------------------- sharding

@pytest.mark.parametrize("total,shards", [(64, 2), (67, 2), (50, 8), (7, 3)])
def test_training_shards_are_disjoint_and_match_one_process(total, shards):
    for epoch in range(2):
        parts = [shard_indices(total, shards, r, True, seed=5, epoch=epoch) for r in range(shards)]
        assert len({len(p) for p in parts}) == 1 and len(parts[0]) == total // shards
        flat = np.concatenate(parts)
        assert len(set(flat.tolist())) == len(flat)  # no sample twice
        # step k of the ranks together = step k of one process over the same permutation, batch x shards
        single = shard_indices(total, 1, 0, True, seed=5, epoch=epoch)
        batch = 2
        for k in range(len(parts[0]) // batch):
            together = np.concatenate([p[k * batch:(k + 1) * batch] for p in parts])
            assert sorted(together) == sorted(single[k * batch * shards:(k + 1) * batch * shards])
    assert not np.array_equal(shard_indices(64, 2, 0, True, 5, 0), shard_indices(64, 2, 0, True, 5, 1))


@pytest.mark.parametrize("total,shards", [(19, 2), (50, 8), (3, 4)])
def test_evaluation_shards_score_every_sample_once(total, shards):
    parts = [shard_indices(total, shards, r, False) for r in range(shards)]
    assert sorted(np.concatenate(parts).tolist()) == list(range(total))


def test_shard_arguments_are_checked():
    with pytest.raises(ValueError, match="shard 2 of 2"):
        ShardSampler(10, 2, 2)


def _solid_folder(root, classes=3, per_class=(5, 6, 6)):
    """Class folders of solid-colour JPEGs; the colour encodes the image's position in the scan order. The names
    sort differently as strings and as numbers (img_10 before img_2)."""
    index = 0
    for c in range(classes):
        os.makedirs(os.path.join(root, f"class_{c}"))
        names = sorted(f"img_{i}.jpg" for i in range(per_class[c]))
        for name in names:
            Image.fromarray(np.full((24, 24, 3), 10 * index + 5, np.uint8)).save(
                os.path.join(root, f"class_{c}", name), quality=100)
            index += 1
    return index


def _read_indices(info):
    got = []
    for images, labels in info.dataset.create_tuple_iterator(output_numpy=True, num_epochs=1):
        got += [int(round((v * 255 - 5) / 10)) for v in images[:, 0, 12, 12]]
    return got


def test_pipeline_shards_address_the_scanned_files(tmp_path):
    total = _solid_folder(str(tmp_path / "val"))
    _solid_folder(str(tmp_path / "train"))
    options = dict(image_size=16, batch_size=2, mean=(0, 0, 0), std=(1, 1, 1), hflip=0, num_shards=2, seed=1)
    seen = []
    for rank in range(2):
        info = make_loader(str(tmp_path), "val", shard_id=rank, **options)
        assert (info.total, info.num_samples) == (total, len(range(rank, total, 2)))
        got = _read_indices(info)
        assert got == shard_indices(total, 2, rank, False).tolist()
        seen += got
    assert sorted(seen) == list(range(total))  # every image once, the odd one included
    # training: what the sampler records is what the pipeline delivers
    for rank in range(2):
        record = str(tmp_path / f"samples_rank{rank}.txt")
        info = make_loader(str(tmp_path), "train", shard_id=rank, epoch=3, record=record, **options)
        got = _read_indices(info)
        recorded = read_sample_record(record)
        assert got == recorded[0][:len(got)] == shard_indices(total, 2, rank, True, 1, 3).tolist()[:len(got)]


# ---------------------------------------------------------------- reductions and lr

def test_counts_reduce_to_the_one_process_result():
    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((19, 7)), rng.integers(0, 7, 19)
    whole = TopKAccumulator()
    whole.update(logits, labels)
    parts = [TopKAccumulator() for _ in range(2)]
    for r, acc in enumerate(parts):
        acc.update(logits[r::2], labels[r::2])
    totals = sum(np.asarray([a.correct[1], a.correct[5], a.count], np.float64) for a in parts)
    for acc in parts:
        acc.reduce(lambda values: totals)
        assert acc.result() == whole.result()


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


def test_global_batch_and_lr_scaling():
    scale, line = linear_lr_scale(128, 2, 1024, "none", 0.4)
    assert scale == 1.0
    assert "global batch 256 (128 per rank x 2 ranks)" in line and "would use 0.1" in line
    scale, line = linear_lr_scale(128, 2, 1024, "linear", 0.4)
    assert scale == 0.25 and "lr_max 0.4 -> 0.1" in line
    with pytest.raises(ConfigError, match="lr_scaling linear needs lr_reference_batch"):
        build_config(["--lr_scaling", "linear"])


def test_checkpoint_comparison_is_relative_to_the_update():
    start = {"w": np.zeros(4), "bn.moving_mean": np.zeros(2)}
    a = {"w": np.array([1.0, 0, 0, 0]), "bn.moving_mean": np.ones(2)}
    b = {"w": np.array([1.0, 0.01, 0, 0]), "bn.moving_mean": np.ones(2) * 1.5}
    result = compare(a, b, start)
    assert result["relative_to_update"] == pytest.approx(0.01) and result["update_cosine"] == pytest.approx(1, 1e-3)
    assert result["max_abs_difference"] == pytest.approx(0.01)
    assert result["bn_statistics_max_abs_difference"] == pytest.approx(0.5)
    assert compare(a, a, start)["relative_to_update"] == 0.0
    with pytest.raises(ValueError, match="different parameters"):
        compare(a, {"w": a["w"]})
    with pytest.raises(ValueError, match="no update"):
        compare(start, a, start)


def test_other_ranks_wait_for_rank_0s_synthetic_data(tmp_path):
    from src.data.synthetic import ensure_synthetic_dataset
    from src.errors import DataError
    spec = dict(num_classes=2, image_size=16, train_per_class=2, val_per_class=1, seed=0)
    root = str(tmp_path / "data")
    with pytest.raises(DataError, match="waited 1 s for rank 0"):
        ensure_synthetic_dataset(root, wait=1.0, **spec)
    assert not os.path.exists(root)  # a waiting rank writes nothing
    ensure_synthetic_dataset(root, **spec)
    assert ensure_synthetic_dataset(root, wait=1.0, **spec) == root


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


def test_freeze_bn_makes_training_mode_use_running_statistics():
    import mindspore as ms
    from src.deploy import calibrate_batchnorm
    from src.models import create_model, freeze_batch_norm
    rng = np.random.default_rng(0)
    net = create_model("mobilenet_v1_025", num_classes=3, drop_rate=0.0)
    calibrate_batchnorm(net, ms.Tensor(rng.standard_normal((8, 3, 32, 32)).astype(np.float32)))  # O(1) outputs
    x = ms.Tensor(rng.standard_normal((4, 3, 32, 32)).astype(np.float32) * 2 + 0.5)
    net.set_train(False)
    inference = net(x).asnumpy()
    scale = np.abs(inference).max()
    assert scale > 0.1 and np.abs(inference - inference.mean(axis=0)).max() > 0.01 * scale  # depends on the input
    assert freeze_batch_norm(net) == 27  # every BN layer of mobilenet_v1_025
    before = net.bn1.moving_mean.asnumpy().copy()
    net.set_train(True)
    assert np.abs(net(x).asnumpy() - inference).max() < 1e-4 * scale
    np.testing.assert_array_equal(net.bn1.moving_mean.asnumpy(), before)  # the statistics stay fixed
    # control: the same weights and statistics without freeze_bn give another output in training mode (a second
    # network, since a compiled graph keeps the attribute it was compiled with)
    control = create_model("mobilenet_v1_025", num_classes=3, drop_rate=0.0)
    ms.load_param_into_net(control, {p.name: p for p in net.get_parameters()}, strict_load=True)
    control.set_train(True)
    assert np.abs(control(x).asnumpy() - inference).max() > 0.01 * scale


def test_linear_lr_scaling_reaches_the_optimizer(image_folder, tmp_path):
    import train as train_script
    out = tmp_path / "run"
    assert train_script.main(["--model", "mobilenet_v1_025", "--dataset", "imagenet", "--num_classes", "3",
                              "--data_path", image_folder, "--image_size", "32", "--eval_resize", "32",
                              "--batch_size", "2", "--epoch_size", "1", "--eval_interval", "0", "--warmup_epochs",
                              "0", "--lr_decay_mode", "constant", "--lr_max", "0.2", "--lr_reference_batch", "8",
                              "--lr_scaling", "linear", "--log_interval", "1", "--num_parallel_workers", "1",
                              "--output_dir", str(out)]) == 0
    log = (out / "train.log").read_text()
    assert "lr_scaling linear: lr values x 2/8 = 0.25 (lr_max 0.2 -> 0.05)" in log
    lrs = set(re.findall(r"lr: ([0-9.]+),", log))
    assert lrs == {"0.050000"}, lrs
