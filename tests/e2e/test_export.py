"""export.py end to end: classes and input size from the checkpoint's record, the record inside the file, AIR refused
off Ascend, and re-parameterisation by default (--reparam false keeps the branches; other models unchanged)."""
import os

import mindspore as ms
import numpy as np
import pytest

import export as export_script
from src.deploy import relative_difference
from src.models import create_model, reparameterize
from tests.support import perturbed_network


SIZE = 64          # the last stage's maps are 2x2: every DFC gate pools and upsamples
TOLERANCE = 5e-5   # max |difference| / max |logit|; measured 1.8e-6 .. 2.1e-5 (float32 rounding of the fused sums)


def _inputs(seed: int = 1):
    rng = np.random.default_rng(seed)
    return [ms.Tensor(rng.standard_normal((2, 3, SIZE, SIZE)).astype(np.float32)) for _ in range(2)]


def test_export_folds_by_default(tmp_path, capsys):
    import onnx
    import export as export_script
    from src.deploy import run_onnx
    ms.set_context(mode=ms.PYNATIVE_MODE)
    net = perturbed_network("repghostnet_050")
    ckpt = str(tmp_path / "w.ckpt")
    ms.save_checkpoint(net, ckpt)
    x, _ = _inputs()
    reference = net(x).asnumpy()
    base = ["--model", "repghostnet_050", "--checkpoint_path", ckpt, "--file_format", "ONNX", "--batch_size", "2",
            "--image_size", str(SIZE)]
    outputs, names = {}, {}
    for flag in ("true", "false", None):
        path = str(tmp_path / f"reparam_{flag}")
        assert export_script.main(base + ["--file_name", path] + (["--reparam", flag] if flag else [])) == 0
        printed = capsys.readouterr().out
        assert ("re-parameterised repghostnet_050" in printed) == (flag != "false")
        outputs[flag] = run_onnx(path + ".onnx", x.asnumpy())
        names[flag] = {init.name for init in onnx.load(path + ".onnx").graph.initializer}
    # the squeeze-excite gates were folded (fold_hard_sigmoid): each a Clip right after a Conv, no Add and Div
    graph = onnx.load(str(tmp_path / "reparam_None.onnx")).graph
    producer = {out: node.op_type for node in graph.node for out in node.output}
    clips = [node for node in graph.node if node.op_type == "Clip"]
    assert clips and all(producer[node.input[0]] == "Conv" for node in clips)
    assert "Div" not in {node.op_type for node in graph.node}
    assert any("fusion_bn" in n for n in names["false"]) and not any("fusion_bn" in n for n in names[None])
    assert names["true"] == names[None]
    for flag, output in outputs.items():
        assert relative_difference(reference, output) < TOLERANCE, flag
    assert export_script.main(base + ["--file_name", str(tmp_path / "x"), "--reparam", "maybe"]) == 2
    assert "--reparam" in capsys.readouterr().err


def test_reparam_changes_nothing_for_other_models(tmp_path, capsys):
    import export as export_script
    net = create_model("mobilenet_v1_025", num_classes=3)
    ckpt = str(tmp_path / "m.ckpt")
    ms.save_checkpoint(net, ckpt)
    assert reparameterize(net) == 0
    assert export_script.main(["--model", "mobilenet_v1_025", "--checkpoint_path", ckpt, "--file_format", "MINDIR",
                               "--image_size", "32", "--file_name", str(tmp_path / "m")]) == 0
    assert "re-parameterised" not in capsys.readouterr().out


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
