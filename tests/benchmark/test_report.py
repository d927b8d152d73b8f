"""The benchmark report (src/benchmark/report.py): a reference decision for every model, medians, ratios and the
table."""
import pytest

from src.benchmark.report import Row, format_table, merge_runs, parse_reference_map, reference_model
from src.models import list_models


def test_every_model_has_a_reference_decision():
    for name in list_models():
        timm_name, note = reference_model(name)
        assert timm_name or note, name
    assert reference_model("ghostnet_600m", parse_reference_map("ghostnet_600m=ghostnet_130"))[0] == "ghostnet_130"
    # the networks converted one to one from timm are compared with timm's own (they said "no counterpart known")
    for name in list_models("ghostnetv*") + list_models("repghostnet_*"):
        assert reference_model(name) == (name, "same network"), name


def test_medians_ratios_and_table():
    row = Row("m", "infer", "mindspore", "r")
    row.runs["ours"] = [{"img_s": v, "peak_rss_mb": 100.0, "params": 5} for v in (10.0, 30.0, 20.0)]
    row.runs["timm"] = [{"img_s": v, "peak_rss_mb": 200.0} for v in (40.0, 20.0)]
    assert merge_runs(row.runs["ours"])["img_s"] == 20.0
    summary = row.summary()
    assert summary["speed_ratio"] == pytest.approx(20.0 / 30.0)
    assert summary["rss_ratio"] == pytest.approx(0.5)
    assert summary["img_s_runs"] == [10.0, 30.0, 20.0]
    table = format_table([summary], with_reference=True)
    assert "0.67x" in table and "10.0/30.0/20.0 (timm 40.0/20.0)" in table
