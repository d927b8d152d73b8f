"""Export, numerical parity of ONNX / MINDIR, ONNX evaluation, the reference runner, labels and postprocess."""
import json
import os
import subprocess

import numpy as np
import pytest
import mindspore as ms

import create_imagenet2012_label as label_script
import eval as eval_script
import eval_onnx as eval_onnx_script
import export as export_script
import postprocess as postprocess_script
from src.deploy import (calibrate_batchnorm, export_model, list_images, relative_difference, result_key,
                        run_mindir, run_onnx)
from src.models import can_reparameterize, create_model, list_models, reparameterize
from src.tools import infer_mindir
from tests.support import ROOT, TINY

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
                                  for n in list_models()])
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
    without onnxruntime's shape warning and equal the network; the old export (a batch-1 example with
    dynamic_axes) declared the output {1, classes} and did warn, which shows the check would catch it."""
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

    ms.onnx.export(net, ms.Tensor(np.zeros((1, 3, SIZE, SIZE), np.float32)), file_name=str(tmp_path / "old"),
                   input_names=["x"], output_names=["logits"], dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}})
    old = onnx_session(str(tmp_path / "old.onnx"))
    assert old.get_outputs()[0].shape == [1, 7]
    assert "Expected shape" in _onnx_warnings(capfd, old, (32,), SIZE)[2]


@pytest.mark.slow
def test_export_cli_reads_classes_from_the_checkpoint_and_refuses_air(trained, tmp_path, capsys):
    ckpt = os.path.join(trained, "ckpt", "ghostnet_050-8_16.ckpt")
    base = ["--model", "ghostnet_050", "--checkpoint_path", ckpt, "--image_size", "48"]
    assert export_script.main(base + ["--file_format", "onnx", "--file_name", str(tmp_path / "m")]) == 0
    assert "(4 classes, input 1x3x48x48; recorded in the checkpoint)" in capsys.readouterr().out
    import onnxruntime as ort
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [1, 3, 48, 48] and session.get_outputs()[0].shape[-1] == 4
    # running twice replaces the (read-only) file
    assert export_script.main(base + ["--file_format", "ONNX", "--file_name", str(tmp_path / "m")]) == 0
    assert export_script.main(base + ["--file_format", "AIR", "--file_name", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "AIR export needs MindSpore's Ascend backend" in err and "MINDIR, ONNX" in err
    assert export_script.main(["--model", "mobilenet_v1_025", "--checkpoint_path", ckpt]) == 2
    assert "--model mobilenet_v1_025 contradicts the checkpoint" in capsys.readouterr().err
    # the file carries the model record: preprocessing and classes
    from src.deploy import read_file_record
    record = read_file_record(str(tmp_path / "m.onnx"))
    assert (record.model, record.num_classes, record.preprocessing.image_size) == ("ghostnet_050", 4, 48)
    assert record.classes == ["00_disk", "01_hstripes", "02_square", "03_vstripes"]
    assert export_script.main(["--model", "ghostnet_050", "--checkpoint_path", str(tmp_path / "no.ckpt")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_onnx_accuracy_equals_eval(exported, synthetic_root, tmp_path):
    eval_json = str(tmp_path / "eval.json")
    assert eval_script.main(TINY + ["--data_path", synthetic_root, "--checkpoint_path", exported["ckpt"],
                                    "--result_json", eval_json]) == 0
    expected = json.load(open(eval_json))
    assert 0.3 < expected["top_1_accuracy"] < 1.0  # a discriminating check: neither chance nor perfect
    for onnx_file, batch in (("fixed.onnx", 32), ("dynamic.onnx", 10)):  # fixed batch 1 and a padded dynamic one
        out_json = str(tmp_path / f"{onnx_file}.json")
        assert eval_onnx_script.main(["--onnx_path", str(exported["dir"] / onnx_file), "--data_path",
                                      synthetic_root, "--config", exported["recipe"], "--batch_size", str(batch),
                                      "--result_json", out_json]) == 0
        got = json.load(open(out_json))
        assert got["num_samples"] == expected["num_samples"] == 52
        assert got["top_1_accuracy"] == expected["top_1_accuracy"]
        assert got["top_5_accuracy"] == expected["top_5_accuracy"]


@pytest.mark.slow
def test_eval_onnx_errors(exported, synthetic_root, tmp_path, capsys):
    args = ["--data_path", synthetic_root, "--config", exported["recipe"]]
    assert eval_onnx_script.main(["--onnx_path", str(tmp_path / "none.onnx")] + args) == 2
    assert "none.onnx' does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    assert eval_onnx_script.main(["--onnx_path", str(bad)] + args) == 2
    assert "cannot load ONNX file" in capsys.readouterr().err
    # a file without a model record (and no recipe) gets the defaults: crop 224, but the file takes 48
    plain = export_model(create_model("ghostnet_050", num_classes=4), str(tmp_path / "plain"), "ONNX", 1, 48)
    assert eval_onnx_script.main(["--onnx_path", plain, "--data_path", synthetic_root]) == 2
    err = capsys.readouterr().err
    assert "takes 48x48 inputs" in err and "the file records no preprocessing" in err
    # export.py's files carry their record: no recipe needed, and without --data_path the recorded data is scored
    assert eval_onnx_script.main(["--onnx_path", str(exported["dir"] / "fixed.onnx")]) == 0
    assert "result: {'top_1_accuracy': " in capsys.readouterr().out


@pytest.mark.slow
def test_reference_runner_labels_and_postprocess_match_eval(exported, synthetic_root, tmp_path, capsys):
    val = os.path.join(synthetic_root, "val")
    eval_json = str(tmp_path / "eval.json")
    assert eval_script.main(TINY + ["--data_path", synthetic_root, "--checkpoint_path", exported["ckpt"],
                                    "--result_json", eval_json]) == 0
    expected = json.load(open(eval_json))
    out = tmp_path / "infer"
    assert infer_mindir.main(["--model_path", str(exported["dir"] / "model.mindir"), "--dataset_path", val,
                              "--output_dir", str(out), "--image_size", "48", "--resize_size", "48"]) == 0
    results = sorted(os.listdir(out / "result_Files"))
    assert len(results) == 52 and results[0] == "00_disk__disk_00000_0.bin"
    assert "infer_count 52" in (out / "time_Result" / "test_perform_static.txt").read_text()
    # the logits written equal the network's on the same image
    logits = np.fromfile(out / "result_Files" / results[0], dtype=np.float32)
    net = create_model("ghostnet_050", num_classes=4)
    ms.load_param_into_net(net, ms.load_checkpoint(exported["ckpt"]))
    net.set_train(False)
    from src.data.preprocessing import Preprocessing
    from src.models.registry import IMAGENET_MEAN, IMAGENET_STD
    preprocessing = Preprocessing(48, 48, "bilinear", IMAGENET_MEAN, IMAGENET_STD)
    image = infer_mindir.preprocess_fn(preprocessing)(np.fromfile(list_images(val)[0], dtype=np.uint8))
    np.testing.assert_allclose(logits, net(ms.Tensor(image[None])).asnumpy()[0], rtol=1e-4, atol=1e-5)

    labels = str(tmp_path / "labels.json")
    assert label_script.main(["--img_path", val, "--output", labels]) == 0
    assert json.load(open(labels))["01_hstripes__hstripes_00003"] == 1
    capsys.readouterr()
    assert postprocess_script.main(["--result_path", str(out / "result_Files"), "--label_path", labels]) == 0
    line = capsys.readouterr().out.strip()
    assert line == (f"Total data: 52, top1 accuracy: {expected['top_1_accuracy']}, "
                    f"top5 accuracy: {expected['top_5_accuracy']}.")

    # postprocess errors: a missing result file and an image without a label
    os.remove(out / "result_Files" / results[5])
    assert postprocess_script.main(["--result_path", str(out / "result_Files"), "--label_path", labels]) == 2
    assert "no result file" in capsys.readouterr().err
    (out / "result_Files" / "stranger_0.bin").write_bytes(np.zeros(4, np.float32).tobytes())
    assert postprocess_script.main(["--result_path", str(out / "result_Files"), "--label_path", labels]) == 2
    assert "'stranger_0.bin'" in capsys.readouterr().err


def test_result_keys_keep_same_stems_apart(tmp_path):
    from src.deploy import result_keys
    from src.errors import DataError
    from tests.support import write_image_folder
    rng = np.random.default_rng(0)
    write_image_folder(str(tmp_path / "a"), rng, classes=2, per_class=1)  # a/class_0/img_0.jpg, a/class_1/img_0.jpg
    keys = result_keys(str(tmp_path / "a"), list_images(str(tmp_path / "a")))
    assert sorted(keys) == ["class_0__img_0", "class_1__img_0"]
    (tmp_path / "b" / "x__y").mkdir(parents=True)
    (tmp_path / "b" / "x").mkdir()
    for p in ("x__y/z.jpg", "x/y__z.jpg"):
        (tmp_path / "b" / p).write_bytes(b"\xff\xd8\xff")
    with pytest.raises(DataError, match="would both be written as 'x__y__z_0.bin'"):
        result_keys(str(tmp_path / "b"), list_images(str(tmp_path / "b")))
    assert result_key("/d", "/d/flat.JPEG") == "flat"


def _script(name, *args, cwd):
    return subprocess.run(["bash", os.path.join(ROOT, "scripts", name), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_run_infer_310_script(exported, synthetic_root, tmp_path):
    val = os.path.join(synthetic_root, "val")
    mindir = str(exported["dir"] / "model.mindir")
    proc = _script("run_infer_310.sh", cwd=tmp_path)
    assert proc.returncode == 1 and "Usage" in proc.stderr
    # without the MindSpore C++ package the harness does not build: the script stops and names build.log
    proc = _script("run_infer_310.sh", mindir, val, "0", cwd=tmp_path)
    assert proc.returncode != 0 and "build failed; see" in proc.stderr and "build.log" in proc.stderr
    proc = _script("run_infer_310.sh", mindir, val, "0", "--reference", "--", "--image_size=48",
                   "--resize_size=48", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "using the Python reference runner" in proc.stdout
    assert (tmp_path / "acc.log").read_text().startswith("Total data: 52, top1 accuracy: ")


@pytest.mark.slow
def test_run_eval_onnx_script(exported, synthetic_root, tmp_path):
    proc = _script("run_eval_onnx.sh", "x.onnx", cwd=tmp_path)
    assert proc.returncode == 1 and "Usage" in proc.stderr
    proc = _script("run_eval_onnx.sh", str(exported["dir"] / "fixed.onnx"), synthetic_root, "TPU", cwd=tmp_path)
    assert proc.returncode == 1 and "unknown DEVICE_TARGET 'TPU'" in proc.stderr
    env = dict(os.environ, CONFIG=exported["recipe"])
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "run_eval_onnx.sh"),
                           str(exported["dir"] / "fixed.onnx"), synthetic_root], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "result: {'top_1_accuracy'" in (tmp_path / "eval_onnx" / "log").read_text()


@pytest.mark.slow
def test_check_export_tool_prints_the_parity_table(capsys):
    from src.tools import check_export
    assert check_export.main(["mobilenet_v1_025"]) == 0
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| mobilenet_v1_025 |")][0]
    onnx_diff, mindir_diff, scale = (float(v) for v in row.strip("| ").split("|")[1:])
    assert onnx_diff < 1e-4 and mindir_diff < 1e-4 and scale > 0.05
    assert check_export.main(["nonet"]) == 2
    assert "unknown model 'nonet'" in capsys.readouterr().err
