"""The per-operator profile (python -m src.kernels.profile): grouping of the profiler's kernels and one real run."""
import pytest

from src.kernels import depthwise, profile


def test_groups_split_depthwise_convolutions_from_the_rest():
    assert profile.op_group("Custom", "Default/a/conv_dw-DepthwiseConv2d/Custom-op3") == \
        "depthwise forward, ours (Custom)"
    assert profile.op_group("Custom", "Gradients/Default/a/0-DepthwiseConv2d/Grad_Custom/Custom-op1") == \
        "depthwise gradients, ours (Custom)"
    assert profile.op_group("Conv2D", "Default/b/0-DepthwiseConv2d/Conv2D-op0") == "Conv2D (depthwise, MindSpore's)"
    assert profile.op_group("Conv2DBackpropFilter", "Gradients/Default/b/0-Conv2d/Grad_Conv2D/X-op1") == \
        "Conv2DBackpropFilter"
    assert profile.op_group("Custom", "Default/c/primary_conv-SequentialCell/0-Conv2d/Custom-op2") == \
        "bias + act, ours (Custom)"
    assert profile.op_group("Custom", "Default/e/se-SqueezeExcite/product-GateProduct/Custom-op0") == \
        "squeeze-excite product, ours (Custom)"
    assert profile.op_group("BatchNormGrad", "Gradients/Default/bn1-BatchNorm2d/BatchNormGrad-op2") == "BatchNormGrad"
    assert profile.op_group("Custom", "Default/c/primary_conv-SequentialCell/1-BatchNorm2d/Custom-op5") == \
        "BatchNorm forward, ours (Custom)"
    assert profile.op_group("Custom", "Gradients/Default/c/1-BatchNorm2d/Grad_Custom/Custom-op6") == \
        "BatchNorm gradient, ours (Custom)"


def test_table_sums_per_step_and_shares():
    rows = [("Conv2D", "Default/x", 30.0), ("Conv2D", "Default/y", 10.0), ("ReLU", "Default/z", 20.0),
            ("Custom", "Default/d-DepthwiseConv2d/Custom-op0", 60.0)]
    per_step = profile.group_times(rows, steps=2)
    assert per_step == {"Conv2D": 20.0, "ReLU": 10.0, "depthwise forward, ours (Custom)": 30.0}
    assert profile.format_table(per_step, top=2).splitlines()[2:] == [
        "| depthwise forward, ours (Custom) | 30.0 | 50.0% |", "| Conv2D | 20.0 | 33.3% |",
        "| other (1 types) | 10.0 | 16.7% |", "| all kernels | 60.0 | 100% |"]


@pytest.mark.skipif(depthwise.library() is None, reason="our kernels cannot run here (no g++ / AVX2)")
def test_profiles_a_small_inference(monkeypatch, capsys):
    """A real profiler run: ghostnet_050 at 32x32, our kernels forced on; the table names our fused depthwise
    forward, MindSpore's pointwise Conv2D and our bias + ReLU after it, and no BatchNorm (folded)."""
    monkeypatch.setenv(depthwise.ENV_SWITCH, "all")
    assert profile.main(["--model", "ghostnet_050", "--bench", "infer", "--batch_size", "2", "--image_size", "32",
                         "--steps", "1", "--top", "40"]) == 0
    out = capsys.readouterr().out
    assert "| depthwise forward, ours (Custom) |" in out and "| Conv2D |" in out
    assert "| bias + act, ours (Custom) |" in out and "| squeeze-excite product, ours (Custom) |" in out
    assert "BatchNorm" not in out and "Conv2D (depthwise" not in out
