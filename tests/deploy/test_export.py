"""Export (src/deploy/export.py): ONNX and MINDIR files compute what the network computes (every architecture at its
narrowest width, every width with GHOSTZOO_TEST_WIDTHS=all; the re-parameterisable ones deployed; DFC attention with
a dynamic batch), the comparison catches a wrong BN eps or gate, and a dynamic-batch ONNX file declares a symbolic
batch on its output."""
import mindspore as ms
import numpy as np
import pytest

from src.deploy import calibrate_batchnorm, export_model, relative_difference, run_mindir, run_onnx
from src.models import can_reparameterize, create_model, list_models, reparameterize
from tests.support import one_per_architecture


# Relative tolerance: max |difference| / max |logit|.
TOLERANCE = 1e-4

SIZE = 32


def _calibrated(name, rng):
    """Random weights with BatchNorm statistics calibrated on random images, so activations stay O(1).

    The last BatchNorm of every ResNet bottleneck branch (`bn3`) gets gamma x 0.2, as small-residual
    initialisations do: with unit gammas the 50- and 101-layer random GhostNet-D amplified float32 rounding
    about 5x per stage (relative differences up to 2.5e-3 between frameworks), with 0.2 they stay near 1e-5.
    """
    net = create_model(name, num_classes=7, image_size=SIZE)
    for param_name, param in net.parameters_and_names():
        if param_name.endswith("bn3.gamma"):
            param.set_data(ms.Tensor(param.asnumpy() * 0.2))
    calibrate_batchnorm(net, ms.Tensor(rng.standard_normal((64, 3, SIZE, SIZE)).astype(np.float32)))
    return net


# The fast subset's share of the check; ghostnetv3_050 deployed has DFC attention and fused convs with bias.
FAST_PARITY = ("ghostnet_050", "mobilenet_v1_025", "ghostnetv3_050")


@pytest.mark.parametrize("name", [n if n in FAST_PARITY else pytest.param(n, marks=pytest.mark.slow)
                                  for n in one_per_architecture(list_models())])
def test_onnx_and_mindir_match_the_network(name, tmp_path):
    """Re-parameterisable networks are checked in the form export.py writes by default: deployed."""
    ms.set_context(mode=ms.GRAPH_MODE)  # the reference is the compiled graph, as exported
    rng = np.random.default_rng(0)
    net = _calibrated(name, rng)
    if can_reparameterize(net):
        reparameterize(net)
    x = rng.standard_normal((2, 3, SIZE, SIZE)).astype(np.float32)
    other = rng.standard_normal((2, 3, SIZE, SIZE)).astype(np.float32)
    reference = net(ms.Tensor(x)).asnumpy()
    tolerance = TOLERANCE
    # the comparison means something: logits are O(1) and depend on the input far beyond the tolerance
    assert 0.05 < np.abs(reference).max() < 100
    assert relative_difference(reference, net(ms.Tensor(other)).asnumpy()) > 100 * tolerance
    onnx_path = export_model(net, str(tmp_path / name), "ONNX", batch_size=2, image_size=SIZE)
    mindir_path = export_model(net, str(tmp_path / name), "MINDIR", batch_size=2, image_size=SIZE)
    assert relative_difference(reference, run_onnx(onnx_path, x)) < tolerance
    assert relative_difference(reference, run_mindir(mindir_path, x)) < tolerance


@pytest.mark.slow
def test_dfc_attention_exports_with_a_dynamic_batch_and_odd_maps(tmp_path):
    """At 56x56 the DFC gates pool 7x7 maps to 3x3 and upsample them back (rows 0,0,0,1,1,2,2); a dynamic-batch ONNX
    file and MINDIR give the network's outputs for a batch of 3 (MindSpore's Resize export would fix the batch)."""
    ms.set_context(mode=ms.GRAPH_MODE)
    rng = np.random.default_rng(0)
    net = create_model("ghostnetv2_100", num_classes=7)
    calibrate_batchnorm(net, ms.Tensor(rng.standard_normal((32, 3, 56, 56)).astype(np.float32)))
    x = rng.standard_normal((3, 3, 56, 56)).astype(np.float32)
    reference = net(ms.Tensor(x)).asnumpy()
    assert 0.05 < np.abs(reference).max() < 100 and relative_difference(reference, reference[::-1]) > 100 * TOLERANCE
    onnx_path = export_model(net, str(tmp_path / "dynamic"), "ONNX", batch_size=0, image_size=56)
    assert relative_difference(reference, run_onnx(onnx_path, x)) < TOLERANCE
    mindir_path = export_model(net, str(tmp_path / "fixed"), "MINDIR", batch_size=3, image_size=56)
    assert relative_difference(reference, run_mindir(mindir_path, x)) < TOLERANCE


def test_the_comparison_catches_a_wrong_bn_eps_and_a_sigmoid_gate(tmp_path):
    """With calibrated statistics a BN eps of 1e-3 instead of 1e-5, or a sigmoid instead of the hard sigmoid,
    moves the logits far beyond the tolerance."""
    from mindspore import nn
    from src.models.layers import SqueezeExcite
    ms.set_context(mode=ms.GRAPH_MODE)
    rng = np.random.default_rng(0)
    net = _calibrated("ghostnet_050", rng)
    x = ms.Tensor(rng.standard_normal((2, 3, SIZE, SIZE)).astype(np.float32))
    reference = net(x).asnumpy()
    path = str(tmp_path / "good.ckpt")
    ms.save_checkpoint(net, path)

    wrong_eps = create_model("ghostnet_050", num_classes=7)
    ms.load_param_into_net(wrong_eps, ms.load_checkpoint(path))
    for _, cell in wrong_eps.cells_and_names():
        if isinstance(cell, nn.BatchNorm2d):
            cell.bn_infer.add_prim_attr("epsilon", 1e-3)
            cell.eps = 1e-3
    wrong_eps.set_train(False)
    assert relative_difference(reference, wrong_eps(x).asnumpy()) > 1e-3

    sigmoid_gate = create_model("ghostnet_050", num_classes=7)
    ms.load_param_into_net(sigmoid_gate, ms.load_checkpoint(path))
    for _, cell in sigmoid_gate.cells_and_names():
        if isinstance(cell, SqueezeExcite):
            cell.gate = nn.Sigmoid()
    sigmoid_gate.set_train(False)
    assert relative_difference(reference, sigmoid_gate(x).asnumpy()) > 1e-2


def _onnx_warnings(capfd, session, batches, size):
    """Outputs of `session` for each batch size, and what onnxruntime wrote to stderr meanwhile."""
    capfd.readouterr()
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal((b, 3, size, size)).astype(np.float32) for b in batches]
    outputs = [session.run(None, {"x": x})[0] for x in inputs]
    return inputs, outputs, capfd.readouterr().err


def test_dynamic_batch_onnx_declares_a_symbolic_batch_on_the_output(tmp_path, capfd):
    """`--batch_size 0` exports: input and output batch dimensions are both symbolic, so batches of 1 and 32 run
    without onnxruntime's shape warning and equal the network. An export from a batch-1 example with dynamic_axes
    declares the output {1, classes} and does warn, which shows the check would catch it."""
    from src.deploy import onnx_session
    ms.set_context(mode=ms.GRAPH_MODE)
    net = _calibrated("mobilenet_v1_025", np.random.default_rng(0))
    path = export_model(net, str(tmp_path / "dynamic"), "ONNX", batch_size=0, image_size=SIZE)
    session = onnx_session(path)
    assert session.get_inputs()[0].shape == ["N", 3, SIZE, SIZE]
    assert session.get_outputs()[0].shape == ["N", 7]
    inputs, outputs, err = _onnx_warnings(capfd, session, (1, 32), SIZE)
    assert "Expected shape" not in err, err
    for x, out in zip(inputs, outputs):
        assert out.shape == (len(x), 7)
        assert relative_difference(net(ms.Tensor(x)).asnumpy(), out) < TOLERANCE

    from src.kernels.depthwise import standard_ops
    with standard_ops(net):  # MindSpore's own exporter on MindSpore's operators (it has no converter for ours)
        ms.onnx.export(net, ms.Tensor(np.zeros((1, 3, SIZE, SIZE), np.float32)), file_name=str(tmp_path / "old"),
                       input_names=["x"], output_names=["logits"], dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}})
    old = onnx_session(str(tmp_path / "old.onnx"))
    assert old.get_outputs()[0].shape == [1, 7]
    assert "Expected shape" in _onnx_warnings(capfd, old, (32,), SIZE)[2]
