"""Export of features-only networks: ONNX (one output per level, dynamic batch) and MINDIR give the network's maps,
run by onnxruntime and MindSpore's MINDIR loader (src/deploy/runners.py)."""
import mindspore as ms
import numpy as np
import onnxruntime as ort
import pytest

from src.deploy import calibrate_batchnorm, export_model, mindir_outputs, onnx_outputs, relative_difference
from src.models import create_model, deploy_form

SIZE = 64
TOL = 1e-4


def _images(seed, batch):
    return np.random.default_rng(seed).standard_normal((batch, 3, SIZE, SIZE)).astype(np.float32)


def _network_maps(net, images):
    mode = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    try:
        return [m.asnumpy() for m in net(ms.Tensor(images))]
    finally:
        ms.set_context(mode=mode)


def _check(net, tmp_path, out_indices):
    onnx_path = export_model(net, str(tmp_path / "features"), "ONNX", batch_size=0, image_size=SIZE)
    mindir_path = export_model(net, str(tmp_path / "features"), "MINDIR", batch_size=0, image_size=SIZE)
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == [f"level{i}" for i in out_indices]
    assert all(not isinstance(o.shape[0], int) for o in session.get_outputs())  # a symbolic batch everywhere
    for batch in (1, 3):
        images = _images(batch, batch)
        expected = _network_maps(net, images)
        for runner in (onnx_outputs, mindir_outputs):
            got = runner(onnx_path if runner is onnx_outputs else mindir_path, images)
            assert [g.shape for g in got] == [e.shape for e in expected], runner.__name__
            for level, (e, g) in enumerate(zip(expected, got)):
                assert relative_difference(e, g) <= TOL, (runner.__name__, level)
    # Outputs in the wrong order (or the maps of another level) would be caught: neighbouring levels differ.
    assert expected[0].shape != expected[1].shape


def test_features_export_to_onnx_and_mindir(tmp_path):
    out_indices = (1, 2, 4)
    net = create_model("ghostnet_050", features_only=True, out_indices=out_indices)
    calibrate_batchnorm(net, ms.Tensor(_images(0, 4)))
    deploy_form(net)  # re-parameterised and BN folded, as export.py exports
    _check(net, tmp_path, out_indices)


@pytest.mark.slow
def test_dilated_reparameterised_features_export(tmp_path):
    out_indices = (0, 3, 4)
    net = create_model("repghostnet_050", features_only=True, out_indices=out_indices, output_stride=16)
    calibrate_batchnorm(net, ms.Tensor(_images(0, 4)))
    assert net.reparameterize() > 0
    deploy_form(net)
    _check(net, tmp_path, out_indices)
