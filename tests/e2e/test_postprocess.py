"""The Ascend 310 flow without an Ascend: the reference runner (src/tools/infer_mindir.py), the label file
(create_imagenet2012_label.py) and postprocess.py give eval.py's accuracy, and postprocess names missing results."""
import json
import os

import mindspore as ms
import numpy as np
import pytest

import create_imagenet2012_label as label_script
import eval as eval_script
import postprocess as postprocess_script
from src.deploy import list_images
from src.models import create_model
from src.tools import infer_mindir
from tests.support import TINY


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
