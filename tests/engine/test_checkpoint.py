"""Checkpoints and exported files that describe themselves, and checkpoints without a record recognised by their
parameter names and shapes."""
import os
import shutil

import mindspore as ms
import pytest

import eval as eval_script
from src.engine.checkpoint import open_checkpoint
from src.errors import CheckpointError
from src.models import create_model


def _save(net, path, drop=()):
    ms.save_checkpoint([{"name": p.name, "data": p} for p in net.get_parameters() if p.name not in drop], str(path))
    return str(path)


@pytest.mark.parametrize("model,num_classes", [("ghostnet_nose_050", 5), ("mobilenet_v1_025", 3),
                                               ("genet_res50_theta_minus", 2)])
def test_a_checkpoint_without_record_is_recognised_at_any_class_count(model, num_classes, tmp_path):
    path = _save(create_model(model, num_classes=num_classes), tmp_path / "plain.ckpt")
    opened = open_checkpoint(path)
    assert (opened.model, opened.num_classes, opened.record) == (model, num_classes, None)
    assert opened.how == "recognised by its parameter names and shapes (our names)"


@pytest.mark.slow
@pytest.mark.parametrize("model", ["ghostnet_100", "ghostnet_nose_100", "ghostnet_600m", "genet_res50_theta_plus",
                                   "mobilenet_v1_100"])
def test_model_zoo_checkpoints_are_recognised_and_converted(model, tmp_path):
    from tests.tools.test_convert_weights import _zoo_checkpoint
    _zoo_checkpoint(model, str(tmp_path / "zoo.ckpt"))
    opened = open_checkpoint(str(tmp_path / "zoo.ckpt"))
    assert opened.model == model and opened.how.endswith("(the model zoo's names)")
    net = create_model(model, num_classes=opened.num_classes)
    assert set(opened.params) == set(net.parameters_dict())


def test_a_checkpoint_that_fits_no_model_names_the_closest_and_what_differs(tmp_path):
    net = create_model("ghostnet_nose_050", num_classes=5)
    path = _save(net, tmp_path / "cut.ckpt", drop=("blocks.3.0.ghost1.primary_conv.0.weight",))
    with pytest.raises(CheckpointError) as info:
        open_checkpoint(path)
    message = str(info.value)
    assert "has no model record and matches no registered model" in message
    assert "the closest: ghostnet_nose_050: 1 missing (e.g. blocks.3.0.ghost1.primary_conv.0.weight)" in message


def test_a_given_model_contradicting_the_record_is_an_error(trained):
    ckpt = os.path.join(trained, "ckpt", "ghostnet_050-8_16.ckpt")
    opened = open_checkpoint(ckpt)
    assert (opened.model, opened.num_classes, opened.how) == ("ghostnet_050", 4, "recorded in the checkpoint")
    assert opened.record.classes == ["00_disk", "01_hstripes", "02_square", "03_vstripes"]
    assert opened.record.preprocessing.image_size == 48 and opened.record.source == "train.py"
    with pytest.raises(CheckpointError, match="--model mobilenet_v1_100 contradicts the checkpoint"):
        open_checkpoint(ckpt, model="mobilenet_v1_100")


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
