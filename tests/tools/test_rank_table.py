"""The rank_table tool (src/tools/rank_table.py): write a table from device IPs or hccn.conf, plan, check."""
from src.rank_table import parse_rank_table, read_hccn_conf
from src.tools import rank_table as rank_table_tool
from tests.support import DEVICE_IPS as IPS


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
