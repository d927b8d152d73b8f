"""eval.py end to end: accuracy well above chance, per-class accuracy and the confusion picture, the data recorded in
the checkpoint, the same score with and without re-parameterisation, a checkpoint written before the redesign
scoring what it scored then, and wrong, missing or damaged checkpoints named."""
import json
import os
import re
import shutil

import mindspore as ms
import numpy as np
import pytest
from PIL import Image

import eval as eval_script
from tests.support import ROOT, TINY, perturbed_network

# A best checkpoint of mobilenet_v1_025 written by the code before the redesign (commit 989704a), and the top-1 its
# eval.py printed on the `synthetic_root` validation images at 32x32.
CKPT = os.path.join(ROOT, "tests", "data", "pre_redesign_mobilenet_v1_025_best.ckpt")
OLD_TOP1 = 0.28846153846153844


@pytest.mark.slow
def test_eval_scores_every_image_well_above_chance(trained, synthetic_root, tmp_path, capsys):
    ckpt = os.path.join(trained, "ckpt", "ghostnet_050-8_16.ckpt")
    result_json = str(tmp_path / "result.json")
    rc = eval_script.main(TINY + ["--data_path", synthetic_root, "--checkpoint_path", ckpt,
                                  "--eval_batch_size", "10", "--result_json", result_json])
    assert rc == 0
    out = capsys.readouterr().out
    assert "result: {'top_1_accuracy': " in out and f"ckpt={ckpt}" in out
    result = json.load(open(result_json))
    assert result["num_samples"] == 52          # 4 classes x 13: not a multiple of the batch of 10
    assert result["top_1_accuracy"] > 0.5       # chance is 0.25; this run reached 0.77


@pytest.mark.slow
def test_eval_confusion_png_per_class_and_most_confused(trained, synthetic_root, tmp_path, capsys):
    ckpt = os.path.join(trained, "ckpt", "ghostnet_050-8_16.ckpt")
    result_json, picture = str(tmp_path / "r.json"), str(tmp_path / "confusion.png")
    assert eval_script.main(TINY + ["--data_path", synthetic_root, "--checkpoint_path", ckpt, "--confusion",
                                    picture, "--result_json", result_json, "--confusion_top", "3"]) == 0
    out = capsys.readouterr().out
    assert "result: {'top_1_accuracy': " in out and f"confusion: {picture}" in out
    result = json.load(open(result_json))
    per_class = result["per_class"]
    assert sorted(per_class) == ["00_disk", "01_hstripes", "02_square", "03_vstripes"]
    assert all(v["num_samples"] == 13 for v in per_class.values())
    right = sum(round(v["accuracy"] * 13) for v in per_class.values())
    assert right / 52 == result["top_1_accuracy"]
    wrong = 52 - right
    pairs = result["most_confused"]
    assert 0 < len(pairs) <= 3 and wrong > 0
    assert all(a["count"] >= b["count"] for a, b in zip(pairs, pairs[1:]))
    for pair in pairs:
        assert re.search(rf"^\s+{pair['count']} x  {pair['true']} -> {pair['predicted']}$", out, re.M)
    image = np.asarray(Image.open(picture).convert("RGB"))
    assert image.std() > 20 and len(np.unique(image.reshape(-1, 3), axis=0)) > 30


@pytest.mark.slow
def test_eval_scores_the_recorded_data_and_names_it_when_gone(trained, synthetic_root, tmp_path, capsys):
    ckpt = os.path.join(trained, "ckpt", "ghostnet_050_best.ckpt")
    assert eval_script.main(["--checkpoint_path", ckpt]) == 0
    out = capsys.readouterr().out
    assert f"data: {synthetic_root} (recorded in the checkpoint)" in out and "result: {'top_1_accuracy'" in out
    # a copy of the run whose data has moved away
    import src.engine.record as record_module
    moved = tmp_path / "data"
    shutil.copytree(synthetic_root, moved)
    entries = ms.load_checkpoint(ckpt)
    record = record_module.ModelRecord.from_json(entries["ghostzoo_record"])
    record.data_path = str(tmp_path / "gone")
    entries["ghostzoo_record"] = record.to_json()
    copy = str(tmp_path / "copy.ckpt")
    ms.save_checkpoint([{"name": k, "data": v} for k, v in entries.items() if not isinstance(v, str)], copy,
                       append_dict=record.append_dict())
    assert eval_script.main(["--checkpoint_path", copy]) == 2
    err = capsys.readouterr().err
    assert f"the data the checkpoint was trained on, '{tmp_path / 'gone'}', no longer exists: pass --data_path" in err
    assert eval_script.main(["--checkpoint_path", copy, "--data_path", str(moved)]) == 0


@pytest.mark.slow
def test_eval_scores_the_same_with_and_without_folding(synthetic_root, tmp_path, capsys):
    import json
    import eval as eval_script
    from tests.support import TINY
    net = perturbed_network("ghostnetv3_050")
    net.reset_classifier(4)
    ckpt = str(tmp_path / "v3.ckpt")
    ms.save_checkpoint(net, ckpt)
    results = {}
    for flag in ("true", "false"):
        out = str(tmp_path / f"{flag}.json")
        assert eval_script.main(TINY + ["--model", "ghostnetv3_050", "--data_path", synthetic_root,
                                        "--checkpoint_path", ckpt, "--reparam", flag, "--result_json", out]) == 0
        logged = capsys.readouterr().out
        assert ("re-parameterised ghostnetv3_050" in logged) == (flag == "true")
        results[flag] = json.load(open(out))
    assert results["true"]["num_samples"] == results["false"]["num_samples"] == 52
    for key in ("top_1_accuracy", "top_5_accuracy"):
        assert results["true"][key] == results["false"][key]


def test_an_old_checkpoint_scores_the_same(synthetic_root, tmp_path):
    result_json = str(tmp_path / "r.json")
    assert eval_script.main(["--config", os.path.join(ROOT, "configs", "quickstart.yaml"), "--model",
                             "mobilenet_v1_025", "--num_classes", "4", "--dataset", "imagenet", "--image_size", "32",
                             "--eval_resize", "32", "--data_path", synthetic_root, "--checkpoint_path", CKPT,
                             "--result_json", result_json]) == 0
    result = json.load(open(result_json))
    assert result["top_1_accuracy"] == OLD_TOP1 and result["num_samples"] == 52


@pytest.mark.slow
def test_eval_rejects_checkpoint_of_another_model(trained, synthetic_root, capsys):
    ckpt = os.path.join(trained, "ckpt", "ghostnet_050-8_16.ckpt")
    args = TINY + ["--data_path", synthetic_root, "--checkpoint_path", ckpt]
    assert eval_script.main(args + ["--model", "ghostnet_nose_050"]) == 2
    err = capsys.readouterr().err
    assert "--model ghostnet_nose_050 contradicts the checkpoint" in err and "holds a ghostnet_050 (recorded" in err

    assert eval_script.main(args + ["--num_classes", "5"]) == 2
    err = capsys.readouterr().err
    assert "classifier.weight (checkpoint (4, 1280), network (5, 1280))" in err and "--num_classes 4" in err

    assert eval_script.main(args + ["--model", "ghostnet_100"]) == 2
    assert "--model ghostnet_100 contradicts the checkpoint" in capsys.readouterr().err


@pytest.mark.slow
def test_eval_missing_and_damaged_checkpoint(synthetic_root, tmp_path, capsys):
    args = TINY + ["--data_path", synthetic_root]
    assert eval_script.main(args + ["--checkpoint_path", str(tmp_path / "none.ckpt")]) == 2
    assert "none.ckpt' does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"\x00garbage" * 100)
    assert eval_script.main(args + ["--checkpoint_path", str(bad)]) == 2
    assert "cannot read checkpoint" in capsys.readouterr().err


def test_eval_refuses_an_unknown_confusion_suffix_before_any_work(capsys):
    import eval as eval_script
    assert eval_script.main(["--checkpoint_path", "x.ckpt", "--confusion", "c.bmp"]) == 2
    assert "--confusion 'c.bmp': unknown suffix '.bmp'" in capsys.readouterr().err
