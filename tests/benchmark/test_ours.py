"""Our side of the benchmark (src/benchmark/ours.py) measures as the reference side does."""
from src.benchmark import ours


def test_infer_reads_the_peak_before_counting_macs(monkeypatch):
    """count_macs runs a PyNative forward pass whose memory MindSpore keeps; timm's side counts after reading its
    peak, so ours must too, or our inference figure carries that pass (docs/performance.md, Memory)."""
    events = []
    real_facts = ours._model_facts
    monkeypatch.setattr(ours, "peak_rss_mb", lambda: events.append("peak") or 1.0)
    monkeypatch.setattr(ours, "_model_facts", lambda net, size: events.append("facts") or real_facts(net, size))
    result = ours.bench_infer("mobilenet_v1_025", batch_size=1, image_size=32, warmup=0, iters=1)
    assert events == ["peak", "facts"]
    assert result["params"] == 470_072 and result["macs"] > 0
