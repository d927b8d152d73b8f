"""Ascend rank tables (src/rank_table.py): every version read, every inconsistency named, tables of several
servers merged and this server found."""
import json

import pytest

from src.rank_table import RankTableError, build_rank_table, merge_rank_tables, parse_rank_table, select_server
from tests.support import DEVICE_IPS as IPS, write_json as _write


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
