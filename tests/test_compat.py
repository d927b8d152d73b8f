"""Checkpoints written before the redesign (issue 11) load and score the same after it.

tests/data holds what the code of commit 989704a wrote and computed:
- pre_redesign_parameters.json: every registered model's parameter names and shapes (7 classes);
- pre_redesign_mobilenet_v1_025_best.ckpt: a best checkpoint of mobilenet_v1_025 trained by train.py on the
  `synthetic_root` data at 32x32 (eval.py then printed top-1 0.28846153846153844 over its 52 validation images);
- pre_redesign_mobilenet_v1_025.npz: that checkpoint's logits on those 52 images, and on a fixed random input.
"""
import json
import os

import numpy as np
import pytest
import mindspore as ms

import eval as eval_script
from src.engine.checkpoint import load_weights
from src.models import create_model, list_models
from tests.support import ROOT
from tests.support import make_loader

DATA = os.path.join(ROOT, "tests", "data")
CKPT = os.path.join(DATA, "pre_redesign_mobilenet_v1_025_best.ckpt")
OLD_TOP1 = 0.28846153846153844  # eval.py at 989704a on the same checkpoint and data


def test_every_parameter_name_and_shape_is_unchanged():
    """Every model that existed then is still registered, with the same parameters in the same order (models
    added later, e.g. GhostNetV2 / V3 and RepGhost, are not in the file)."""
    before = json.load(open(os.path.join(DATA, "pre_redesign_parameters.json")))
    assert set(before) <= set(list_models()) and len(before) == 16
    for name in sorted(before):
        now = [[p.name, list(p.shape)] for p in create_model(name, num_classes=7).get_parameters()]
        assert now == before[name], name


def test_an_old_checkpoint_scores_the_same(synthetic_root, tmp_path):
    result_json = str(tmp_path / "r.json")
    assert eval_script.main(["--config", os.path.join(ROOT, "configs", "quickstart.yaml"), "--model",
                             "mobilenet_v1_025", "--num_classes", "4", "--dataset", "imagenet", "--image_size", "32",
                             "--eval_resize", "32", "--data_path", synthetic_root, "--checkpoint_path", CKPT,
                             "--result_json", result_json]) == 0
    result = json.load(open(result_json))
    assert result["top_1_accuracy"] == OLD_TOP1 and result["num_samples"] == 52


@pytest.mark.parametrize("mode", [ms.GRAPH_MODE, ms.PYNATIVE_MODE])
def test_an_old_checkpoint_gives_the_same_logits(synthetic_root, mode):
    ms.set_context(mode=mode)
    expected = np.load(os.path.join(DATA, "pre_redesign_mobilenet_v1_025.npz"))
    net = create_model("mobilenet_v1_025", num_classes=4, drop_rate=0.0)
    load_weights(net, CKPT)
    net.set_train(False)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    fixed = net(ms.Tensor(x)).asnumpy()
    scale = np.abs(expected["random_input_logits"]).max()
    assert np.abs(fixed - expected["random_input_logits"]).max() <= 1e-5 * scale
    loader = make_loader(synthetic_root, "val", num_classes=4, image_size=32, batch_size=16)
    logits = np.concatenate([net(images).asnumpy() for images, _ in
                             loader.dataset.create_tuple_iterator(num_epochs=1)])
    assert logits.shape == (52, 4)
    scale = np.abs(expected["val_logits"]).max()
    assert np.abs(logits - expected["val_logits"]).max() <= 1e-5 * scale
