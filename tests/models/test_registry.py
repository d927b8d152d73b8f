"""Every registered model: exact parameter counts (training and deployed form), forward and backward with a
gradient for every parameter, the model interface (default cfg, classifier, image size), the registry's names and
errors, parameter names unchanged since the redesign, and a short training of each family."""
import json
import os
import re

import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

from src.engine.loss import CrossEntropySmooth
from src.engine.optim import create_optimizer
from src.engine.scheduler import build_lr_schedule
from src.models import can_reparameterize, count_params, create_model, list_models, register_model, reparameterize
from tests.support import EVERY_WIDTH, ROOT, architecture, one_per_architecture

DATA = os.path.join(ROOT, "tests", "data")  # files written by the code before the redesign


# Trainable parameters at 1000 classes (reference: official GhostNet code / timm).
PARAM_COUNTS = {
    "ghostnet_050": 2_587_292,
    "ghostnet_100": 5_182_508,
    "ghostnet_130": 7_358_820,
    "ghostnet_nose_050": 2_209_948,
    "ghostnet_nose_100": 3_678_640,
    "ghostnet_nose_130": 4_815_976,
    "ghostnet_600m": 11_939_796,
    "mobilenet_v1_025": 470_072,
    "mobilenet_v1_050": 1_331_592,
    "mobilenet_v1_075": 2_585_560,
    "mobilenet_v1_100": 4_231_976,
    "genet_res50_theta_minus": 25_557_032,
    "genet_res50_theta": 31_071_272,
    "genet_res50_theta_plus": 33_586_216,
    "ghostnet_d_50": 27_614_376,     # our reconstruction; derivation in src/models/ghostnet_d.py
    "ghostnet_d_101": 36_831_912,
    "ghostnetv2_100": 6_156_908,     # timm 1.0.31 (tests/tools/test_convert_weights.py)
    "ghostnetv2_130": 8_960_404,
    "ghostnetv2_160": 12_392_698,
    "ghostnetv3_050": 3_395_384,     # training form; deployed: DEPLOYED_PARAM_COUNTS
    "ghostnetv3_100": 8_129_028,
    "ghostnetv3_130": 12_217_720,
    "ghostnetv3_160": 17_275_700,
    "repghostnet_050": 2_313_968,
    "repghostnet_058": 2_546_388,
    "repghostnet_080": 3_278_968,
    "repghostnet_100": 4_073_604,
    "repghostnet_111": 4_539_984,
    "repghostnet_130": 5_478_612,
    "repghostnet_150": 6_575_336,
    "repghostnet_200": 9_796_124,
}


# After reparameterize() (timm: parameters of reparameterize_model(net), 1000 classes); the other models keep theirs.
DEPLOYED_PARAM_COUNTS = {
    "ghostnetv3_050": 2_853_176,
    "ghostnetv3_100": 6_147_588,
    "ghostnetv3_130": 8_948_296,
    "ghostnetv3_160": 12_377_778,
    "repghostnet_050": 2_306_528,
    "repghostnet_058": 2_537_736,
    "repghostnet_080": 3_267_112,
    "repghostnet_100": 4_058_772,
    "repghostnet_111": 4_523_568,
    "repghostnet_130": 5_459_316,
    "repghostnet_150": 6_553_064,
    "repghostnet_200": 9_766_460,
}


# Parameters that get no gradient by construction: in GENet theta / theta-plus the first stage's dense-conv BN beta
# is a per-channel constant that the full-extent gather's BN removes (tests/models/test_genet.py checks it stays ~0).
NO_GRADIENT_BY_DESIGN = re.compile(r"^layer1\.\d+\.ge\.down\.1\.beta$")


def test_every_registered_model_has_a_count():
    assert sorted(PARAM_COUNTS) == list_models()


@pytest.mark.parametrize("name", sorted(PARAM_COUNTS))
def test_parameter_count(name):
    assert count_params(create_model(name, num_classes=1000)) == PARAM_COUNTS[name]


@pytest.mark.parametrize("name", list_models())
def test_deployed_parameter_count(name):
    """reparameterize() folds exactly the re-parameterisable models, to timm's deployed sizes; a second call and
    the other models change nothing."""
    net = create_model(name, num_classes=1000)
    assert can_reparameterize(net) == (name in DEPLOYED_PARAM_COUNTS)
    assert (reparameterize(net) > 0) == (name in DEPLOYED_PARAM_COUNTS)
    assert count_params(net) == DEPLOYED_PARAM_COUNTS.get(name, PARAM_COUNTS[name])
    assert not can_reparameterize(net) and reparameterize(net) == 0


def test_unknown_model_lists_known():
    with pytest.raises(ValueError, match="unknown model 'ghostnet_10'.*ghostnet_100"):
        create_model("ghostnet_10")


def test_duplicate_registration_refused():
    def ghostnet_100(num_classes=1000):
        return None
    with pytest.raises(ValueError, match="already registered"):
        register_model(ghostnet_100)


def test_the_numerical_checks_cover_every_architecture():
    """The whole-network checks run on one width per architecture: none is left out, the widths of one are."""
    names = list_models()
    chosen = one_per_architecture(names)
    assert {architecture(n) for n in chosen} == {architecture(n) for n in names}
    assert len(chosen) == (len(names) if EVERY_WIDTH else len({architecture(n) for n in names}))
    assert "ghostnet_050" in chosen and "ghostnet_d_50" in chosen and "ghostnet_600m" in chosen
    assert architecture("genet_res50_theta_plus") != architecture("genet_res50_theta")


@pytest.mark.parametrize("name", list_models())
def test_forward_backward_every_parameter_gets_gradient(name):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    net = create_model(name, num_classes=7, image_size=32)
    # batch 4: at 32x32 the last stages' maps are 1x1, and a training BatchNorm over only two values has an input
    # gradient of exactly zero (its outputs are -1 and 1 whatever the inputs), which hid earlier parameters'
    x = ms.Tensor(np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(np.float32))
    net.set_train(False)
    feats = net.forward_features(x)
    assert feats.shape[0] == 4 and feats.ndim == 4
    logits = net.forward_head(feats).asnumpy()
    assert logits.shape == (4, 7) and np.isfinite(logits).all()
    np.testing.assert_allclose(net(x).asnumpy(), logits, rtol=1e-5, atol=1e-6)

    net.set_train(True)
    loss_net = nn.WithLossCell(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean"))
    params = net.trainable_params()
    grads = ms.grad(loss_net, grad_position=None, weights=params)(x, ms.Tensor(np.array([1, 5, 0, 3], np.int32)))
    dead = [p.name for p, g in zip(params, grads)
            if not np.abs(g.asnumpy()).sum() > 0 and not NO_GRADIENT_BY_DESIGN.match(p.name)]
    assert not dead, f"no gradient for {dead}"


def test_reset_classifier():
    net = create_model("ghostnet_050", num_classes=7)
    net.reset_classifier(3)
    assert net.classifier.weight.shape == (3, net.num_features)
    assert net.classifier.weight.name == "classifier.weight"
    net.set_train(False)
    assert net(ms.Tensor(np.zeros((1, 3, 32, 32), np.float32))).shape == (1, 3)


@pytest.mark.parametrize("name", list_models())
def test_default_cfg_names_real_parameters(name):
    from src.models import get_default_cfg
    cfg = get_default_cfg(name)
    net = create_model(name, num_classes=7)
    names = set(net.parameters_dict())
    assert f"{cfg.classifier}.weight" in names and f"{cfg.stem}.weight" in names
    assert net.get_classifier().weight.name == f"{cfg.classifier}.weight"
    assert net.get_classifier().weight.shape[0] == 7
    assert net.default_cfg.input_size == cfg.input_size and net.model_name == name
    assert cfg.eval_resize >= cfg.input_size and len(cfg.mean) == len(cfg.std) == 3
    assert count_params(create_model(name)) == PARAM_COUNTS[name]  # default class count: the reference weights'


def test_fixed_resolution_models_get_the_image_size():
    from src.models import get_default_cfg
    fixed = [n for n in list_models() if get_default_cfg(n).fixed_resolution]
    assert fixed == ["genet_res50_theta", "genet_res50_theta_plus"]
    net = create_model("genet_res50_theta", num_classes=3, image_size=64)
    assert net.image_size == 64 and net.default_cfg.input_size == 64
    assert create_model("ghostnet_050", num_classes=3, image_size=64).default_cfg.input_size == 224


def test_list_models_pattern_and_sources():
    from src.models import find_source_model, weight_sources
    assert list_models("mobilenet_v1_*") == ["mobilenet_v1_025", "mobilenet_v1_050", "mobilenet_v1_075",
                                             "mobilenet_v1_100"]
    assert find_source_model("timm", "mobilenetv1_100") == "mobilenet_v1_100"
    assert find_source_model("modelzoo", "ghostnet_1x") == "ghostnet_100"
    assert set(weight_sources("ghostnet_100")) == {"timm", "modelzoo", "mindcv"}
    with pytest.raises(ValueError, match="no conversion of model 'ghostnet_nose_050' from --source timm"):
        find_source_model("timm", "ghostnet_nose_050")


def test_every_parameter_name_and_shape_is_unchanged():
    """Every model that existed then is still registered, with the same parameters in the same order (models
    added later, e.g. GhostNetV2 / V3 and RepGhost, are not in the file)."""
    before = json.load(open(os.path.join(DATA, "pre_redesign_parameters.json")))
    assert set(before) <= set(list_models()) and len(before) == 16
    for name in sorted(before):
        now = [[p.name, list(p.shape)] for p in create_model(name, num_classes=7).get_parameters()]
        assert now == before[name], name


FAMILIES = ["ghostnet_600m", "mobilenet_v1_100", "genet_res50_theta_plus", "ghostnet_d_50"]


@pytest.mark.slow
@pytest.mark.parametrize("name", FAMILIES)
def test_short_training_lowers_the_loss(name):
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_seed(0)
    rng = np.random.default_rng(0)
    images = ms.Tensor(rng.standard_normal((8, 3, 32, 32)).astype(np.float32))
    labels = ms.Tensor(np.arange(8, dtype=np.int32) % 5)
    net = create_model(name, num_classes=5, image_size=32, drop_rate=0.0)
    optimizer = create_optimizer(net, build_lr_schedule(0.01, 12, mode="constant"), weight_decay=1e-4)
    step = nn.TrainOneStepCell(nn.WithLossCell(net, CrossEntropySmooth(0.0, 5)), optimizer)
    step.set_train()
    losses = [float(step(images, labels).asnumpy()) for _ in range(12)]
    assert np.isfinite(losses).all()
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3]), losses
