"""Checkpoints in and out (src/engine/checkpoint.py): a checkpoint opens with its record or is recognised by its
parameter names and shapes (ours or the model zoo's), a checkpoint that fits nothing names the closest model, a
given model that contradicts the record is refused, a checkpoint written before the redesign gives the same
logits, fine-tuning starts from a model-zoo checkpoint, and a resume restores weights and optimizer moments."""
import os

import mindspore as ms
import numpy as np
import pytest

from src.engine.checkpoint import load_weights, open_checkpoint, read_checkpoint
from src.errors import CheckpointError
from src.models import create_model
from tests.support import ROOT, make_loader, zoo_checkpoint

# Files written by the code before the redesign (commit 989704a): a best checkpoint of mobilenet_v1_025 trained by
# train.py on the `synthetic_root` data at 32x32, and its logits on those validation images and on a fixed input.
DATA = os.path.join(ROOT, "tests", "data")
CKPT = os.path.join(DATA, "pre_redesign_mobilenet_v1_025_best.ckpt")


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
    zoo_checkpoint(model, str(tmp_path / "zoo.ckpt"))
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


def test_fine_tune_starts_from_a_model_zoo_checkpoint(tmp_path):
    """init_from_checkpoint (fine_tune.py's --pretrained_ckpt) converts the zoo's names on the fly and gives a
    5-class network every backbone weight of the 1000-class zoo checkpoint."""
    from src.engine.checkpoint import init_from_checkpoint
    path = str(tmp_path / "ghostnet_1x_pets.ckpt")
    zoo, names = zoo_checkpoint("ghostnet_100", path)
    net = create_model("ghostnet_100", num_classes=5)
    init_from_checkpoint(net, path, "ghostnet_100")
    params = net.parameters_dict()
    assert params["classifier.weight"].shape == (5, 1280)
    for ours, zoo_name in names.items():
        if not ours.startswith("classifier."):
            np.testing.assert_array_equal(params[ours].asnumpy(), zoo[zoo_name], err_msg=ours)


@pytest.mark.slow
def test_resume_state_restores_weights_and_moments_exactly(trained):
    """The functions train.py resumes with: read_training_state then restore_optimizer."""
    from src.engine.checkpoint import read_training_state, restore_optimizer
    from src.engine.optim import create_optimizer
    from src.engine.scheduler import create_scheduler
    from src.models import create_model
    path = os.path.join(trained, "ckpt", "ghostnet_050-8_16.ckpt")
    net = create_model("ghostnet_050", num_classes=4)
    opt = create_optimizer(net, create_scheduler(16, 9, lr_max=0.1), weight_decay=4e-5)
    state = read_training_state(path, net)
    restore_optimizer(state, opt, path)
    assert int(state["epoch_num"].asnumpy()) == 8
    saved = read_checkpoint(path)
    for name, param in net.parameters_dict().items():
        np.testing.assert_array_equal(param.asnumpy(), saved[name].asnumpy(), err_msg=name)
    for param in opt.moments:
        np.testing.assert_array_equal(param.asnumpy(), saved[param.name].asnumpy(), err_msg=param.name)
    assert int(opt.global_step.asnumpy()[0]) == 128
