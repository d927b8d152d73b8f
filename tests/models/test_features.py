"""Backbones (src/models/features.py): features_only networks of every family with feature_info known before a
forward pass, timm's levels and maps (timm's weights converted), output strides by dilation, re-parameterisation
in features mode, freezing the first stages, and the refusals of bad input."""
import re
import warnings

import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

from src.deploy import calibrate_batchnorm, relative_difference
from src.models import convert_state_dict, count_params, create_model
from src.models.features import FeatureNet, Level, freeze_stages, set_output_stride
from tests import support as tr
from tests.support import optional_torch

torch, needs_torch = optional_torch()  # PyTorch and timm: optional here, required on CI

SIZE = 64
TOL = 1e-4
TOL_BY_MODEL = {"ghostnetv3_100": 2e-4}  # 3 to 5 summed conv + BN branches per conv (as in tests/test_convert.py)
# One width per family (the fast set).
FAMILIES = ["ghostnet_050", "ghostnet_600m", "ghostnetv2_100", "ghostnetv3_050", "repghostnet_050",
            "mobilenet_v1_025", "genet_res50_theta_minus", "ghostnet_d_50"]
SLOW_FAMILIES = {"ghostnet_600m", "ghostnetv3_050", "genet_res50_theta_minus", "ghostnet_d_50"}


pytestmark = pytest.mark.usefixtures("pynative")  # the whole module in PyNative mode


def _images(seed, batch=2, size=SIZE):
    return np.random.default_rng(seed).standard_normal((batch, 3, size, size)).astype(np.float32)


def _maps(net, images):
    net.set_train(False)
    return [m.asnumpy() for m in net(ms.Tensor(images))]


def _run_steps(net, x):
    """What the declared steps compute, run one by one on the classification network."""
    for step in net.feature_steps:
        name, _, index = step.partition(".")
        cell = getattr(net, name)
        x = (cell[int(index)] if index else cell)(x)
    return x


def _family(names):
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_FAMILIES else n for n in names]


@pytest.mark.parametrize("name", _family(FAMILIES))
def test_features_of_every_family(name):
    net = create_model(name, features_only=True)
    info = net.feature_info  # known before any forward pass
    assert len(info) == 5 and info.reductions() == [2, 4, 8, 16, 32]
    assert len(set(info.module_names())) == 5
    maps = _maps(net, _images(0, batch=1))
    assert [m.shape[1] for m in maps] == info.channels()
    assert [SIZE // m.shape[2] for m in maps] == info.reductions()
    assert all(np.isfinite(m).all() for m in maps)
    # The head is left out, the backbone's parameters keep the classification network's names.
    full = create_model(name, num_classes=3)
    names = {p.name for p in net.get_parameters()}
    assert names < {p.name for p in full.get_parameters()}
    assert not any(n.startswith(("classifier", "conv_head")) for n in names)
    # The declared steps are what forward_features computes.
    full.set_train(False)
    x = ms.Tensor(_images(1, batch=1))
    np.testing.assert_array_equal(_run_steps(full, x).asnumpy(), full.forward_features(x).asnumpy())


def test_out_indices_pick_levels_and_stop_early():
    net = create_model("ghostnet_050", features_only=True, out_indices=(1, 3))
    assert net.feature_info.module_names() == ["blocks.1", "blocks.5"]
    assert net.feature_info.channels() == [12, 40] and net.feature_info.reductions() == [4, 16]
    assert len(net.blocks) == 6  # blocks.6 .. blocks.9 are not needed
    maps = _maps(net, _images(0, batch=1))
    assert [m.shape for m in maps] == [(1, 12, 16, 16), (1, 40, 4, 4)]


def test_graph_mode_gives_the_pynative_maps():
    net = create_model("mobilenet_v1_025", features_only=True, out_indices=(0, 2, 4))
    x = _images(2, batch=1)
    calibrate_batchnorm(net, ms.Tensor(x))
    pynative = _maps(net, x)
    ms.set_context(mode=ms.GRAPH_MODE)
    graph = _maps(net, x)
    ms.set_context(mode=ms.PYNATIVE_MODE)
    for a, b in zip(pynative, graph):
        assert relative_difference(a, b) < 1e-5


@pytest.mark.parametrize("bad", [(5,), (-1,), (2, 1), (1, 1), (), ("1",)])
def test_unknown_level_is_refused_listing_the_levels(bad):
    with pytest.raises(ValueError, match=r"0: act1 \(8 channels, 1/2\).*4: blocks.7 \(80 channels, 1/32\)"):
        create_model("ghostnet_050", features_only=True, out_indices=bad)


def test_out_indices_without_features_only_is_refused():
    with pytest.raises(ValueError, match="out_indices needs features_only"):
        create_model("ghostnet_050", out_indices=(1,))


def test_head_options_are_ignored_with_one_warning():
    with pytest.warns(UserWarning, match=r"num_classes=7, drop_rate=0.5 is ignored") as record:
        net = create_model("ghostnet_050", features_only=True, num_classes=7, drop_rate=0.5)
    assert len(record) == 1 and not hasattr(net, "classifier")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        create_model("ghostnet_050", features_only=True)


# --- timm's levels and maps -------------------------------------------------------------------------------------
TIMM_NAMES = {"ghostnet_050": "ghostnet_050", "ghostnet_100": "ghostnet_100", "ghostnet_130": "ghostnet_130",
              "ghostnetv2_100": "ghostnetv2_100", "ghostnetv3_100": "ghostnetv3_100",
              "repghostnet_100": "repghostnet_100", "mobilenet_v1_100": "mobilenetv1_100"}
FAST_TIMM = "ghostnet_050"


def _timm_param(names):
    return [n if n == FAST_TIMM else pytest.param(n, marks=pytest.mark.slow) for n in names]


def _stem_raw_in_timm(ours: str) -> bool:
    """timm's GhostNet family reports the stem's raw conv output; ours is after bn1 and act1 (docs/backbones.md)."""
    return not ours.startswith("mobilenet")


@needs_torch
@pytest.mark.parametrize("ours", _timm_param(sorted(TIMM_NAMES)))
def test_levels_are_timms(ours):
    theirs = tr.import_timm().create_model(TIMM_NAMES[ours], features_only=True).feature_info
    info = create_model(ours, features_only=True).feature_info
    assert info.channels() == theirs.channels() and info.reductions() == theirs.reduction()
    names = theirs.module_name()
    if _stem_raw_in_timm(ours):
        assert names[0] == "conv_stem" and info.module_names()[0] == "act1"
        names = names[1:]
    assert info.module_names()[-len(names):] == names


def _timm_pair(ours, seed=0):
    """timm's classification network with random calibrated weights, timm's features_only network with the same
    weights, and our features network from timm's weights converted (convert_state_dict)."""
    timm = tr.import_timm()
    torch.manual_seed(seed)
    net = tr.randomize(tr.timm_model(TIMM_NAMES[ours], 11), seed, torch.from_numpy(_images(100 + seed, batch=16)))
    state = net.state_dict()
    features = timm.create_model(TIMM_NAMES[ours], features_only=True)
    flat = {re.sub(r"^blocks\.(\d+)\.", r"blocks_\1.", k): v for k, v in state.items()}
    wanted = features.state_dict()
    features.load_state_dict({k: (flat[k] if k in flat else state[k]) for k in wanted})
    converted = convert_state_dict("timm", ours, tr.state_dict_numpy(net))
    return features.eval(), converted


def _timm_maps(features, ours, images):
    with torch.no_grad():
        maps = features(torch.from_numpy(images))
        if _stem_raw_in_timm(ours):
            maps[0] = features.act1(features.bn1(maps[0]))
    return [m.numpy() for m in maps]


def _our_features(ours, converted, levels=None):
    net = create_model(ours, num_classes=11)
    ms.load_param_into_net(net, {k: ms.Parameter(ms.Tensor(v)) for k, v in converted.items()}, strict_load=True)
    if levels is not None:
        net.feature_levels = levels
    return FeatureNet(net)


@needs_torch
@pytest.mark.parametrize("ours", _timm_param(sorted(TIMM_NAMES)))
def test_maps_equal_timms_features_only(ours):
    features, converted = _timm_pair(ours)
    net = _our_features(ours, converted)
    tol = TOL_BY_MODEL.get(ours, TOL)
    a, b = _images(1), _images(2)
    ref_a, ref_b = _timm_maps(features, ours, a), _timm_maps(features, ours, b)
    ours_a, ours_b = _maps(net, a), _maps(net, b)
    for level, (ra, rb, oa, ob) in enumerate(zip(ref_a, ref_b, ours_a, ours_b)):
        diff = max(relative_difference(ra, oa), relative_difference(rb, ob))
        print(f"{ours} level {level}: relative difference {diff:.3g}, scale {np.abs(ra).max():.3g}")
        assert diff <= tol, level
        assert 0.1 < np.abs(ra).max() < 100  # calibrated: O(1) maps
        assert relative_difference(ra, rb) > 1000 * tol  # the maps depend on the input


@needs_torch
def test_an_off_by_one_level_is_caught():
    """Level 1 taken one block later (blocks.2: the same 24 / 12 channels at 1/4) differs from timm's far beyond
    the tolerance: the comparison pins the level, not just its shape."""
    ours = FAST_TIMM
    features, converted = _timm_pair(ours)
    net = create_model(ours, num_classes=11)
    shifted = list(net.feature_levels)
    shifted[1] = Level("blocks.2", shifted[1].channels, shifted[1].reduction)
    wrong = _our_features(ours, converted, tuple(shifted))
    a = _images(1)
    ref, got = _timm_maps(features, ours, a), _maps(wrong, a)
    assert ref[1].shape == got[1].shape
    assert relative_difference(ref[1], got[1]) > 1000 * TOL
    assert relative_difference(ref[2], got[2]) <= TOL


# --- output stride ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", _family(FAMILIES))
def test_output_stride_dilates_the_last_stages(name):
    base = create_model(name, features_only=True)
    x = _images(3, batch=1)
    calibrate_batchnorm(base, ms.Tensor(x))
    strided = _maps(base, x)
    for stride in (16, 8):
        net = create_model(name, features_only=True, output_stride=stride)
        assert count_params(net) == count_params(base)
        assert net.feature_info.reductions() == [min(r, stride) for r in (2, 4, 8, 16, 32)]
        ms.load_param_into_net(net, base.parameters_dict())
        maps = _maps(net, x)
        assert [SIZE // m.shape[2] for m in maps] == net.feature_info.reductions()
        assert [m.shape[1] for m in maps] == base.feature_info.channels()
        # Up to the output stride nothing changes; beyond it the maps differ (larger, dilated).
        for level, reduction in enumerate(base.feature_info.reductions()):
            if reduction <= stride:
                np.testing.assert_allclose(maps[level], strided[level], rtol=1e-5, atol=1e-5)
        dilated = [c for _, c in net.cells_and_names() if isinstance(c, nn.Conv2d) and c.dilation[0] > 1]
        assert dilated and all(c.stride == (1, 1) for c in dilated)


def test_output_stride_of_the_classifier():
    net = create_model("mobilenet_v1_025", num_classes=5, output_stride=16)
    net.set_train(False)
    assert net(ms.Tensor(_images(0, batch=1))).shape == (1, 5)
    assert net.forward_features(ms.Tensor(_images(0, batch=1))).shape[2] == SIZE // 16


@pytest.mark.parametrize("stride", [4, 12, 64, 16.0, True])
def test_impossible_output_stride_is_refused(stride):
    with pytest.raises(ValueError, match="output_stride must be one of 8, 16, 32"):
        create_model("ghostnet_050", features_only=True, output_stride=stride)


def test_genet_theta_gives_output_stride_32_only():
    net = create_model("genet_res50_theta", image_size=64)
    with pytest.raises(ValueError, match="output_stride 32 only .*Gather-Excite"):
        set_output_stride(net, 16)
    assert set_output_stride(net, 32) is net


# --- re-parameterisation ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,stride", [("repghostnet_050", 32), ("repghostnet_050", 16),
                                         pytest.param("ghostnetv3_050", 32, marks=pytest.mark.slow)])
def test_reparameterised_backbones_give_the_same_maps(name, stride):
    net = create_model(name, features_only=True, output_stride=stride)
    x = _images(4)
    calibrate_batchnorm(net, ms.Tensor(x))
    before = _maps(net, x)
    assert net.reparameterize() > 0
    after = _maps(net, x)
    assert not any("rpr" in p.name or "fusion_bn" in p.name for p in net.get_parameters())
    for level, (a, b) in enumerate(zip(before, after)):
        assert relative_difference(a, b) <= 1e-4, level
    assert relative_difference(before[-1], _maps(net, _images(5))[-1]) > 0.1


# --- freezing ---------------------------------------------------------------------------------------------------
def _snapshot(net):
    return {p.name: p.asnumpy().copy() for p in net.get_parameters()}


def test_frozen_stages_keep_weights_and_statistics_after_a_training_step():
    net = create_model("ghostnet_050", features_only=True, out_indices=(2, 3))
    frozen = freeze_stages(net, 2)  # the stem, blocks.0 .. blocks.3 (level 2 is blocks.3)
    assert frozen[0] == "conv_stem.weight" and any(n.startswith("blocks.3.") for n in frozen)
    assert not any(n.startswith("blocks.4.") for n in frozen)
    before = _snapshot(net)

    class Loss(nn.Cell):
        def __init__(self, backbone):
            super().__init__(auto_prefix=False)  # the backbone's parameter names unchanged
            self.backbone = backbone

        def construct(self, x):
            a, b = self.backbone(x)
            return (a * a).mean() + (b * b).mean()

    step = nn.TrainOneStepCell(Loss(net), nn.Momentum(net.trainable_params(), 0.1, 0.9))
    step.set_train(True)
    step(ms.Tensor(_images(6, batch=4)))
    after = _snapshot(net)
    frozen_set = set(frozen)
    assert any(n.endswith("moving_mean") for n in frozen_set)
    for name, value in before.items():
        changed = not np.array_equal(value, after[name])
        if name in frozen_set:
            assert not changed, name
        elif name.endswith(("gamma", "beta", "weight", "moving_mean", "moving_variance")):
            assert changed, name


def test_freeze_stages_is_refused_beyond_the_stages():
    net = create_model("mobilenet_v1_025", num_classes=3)
    with pytest.raises(ValueError, match=r"stem \(0\) and stages 1..4"):
        freeze_stages(net, 5)
    with pytest.raises(ValueError, match="freeze_stages -1"):
        freeze_stages(net, -1)


# --- the documentation's example --------------------------------------------------------------------------------
def test_the_backbones_doc_example_runs(monkeypatch, capsys):
    """Every ```python block of docs/backbones.md, run in order (the installed package name `ghostzoo` is this
    clone's `src`)."""
    import os
    import sys
    import src
    import src.models
    from tests.support import ROOT
    text = open(os.path.join(ROOT, "docs", "backbones.md")).read()
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert blocks
    monkeypatch.setitem(sys.modules, "ghostzoo", src)
    monkeypatch.setitem(sys.modules, "ghostzoo.models", src.models)
    namespace = {"__name__": "backbones_doc"}
    for block in blocks:
        exec(compile(block, "docs/backbones.md", "exec"), namespace)
    assert "one step, loss" in capsys.readouterr().out
    backbone = namespace["backbone"]
    assert not backbone.conv_stem.weight.requires_grad and backbone.blocks[3][0].conv_dw.weight.requires_grad


@pytest.mark.slow
def test_train_freeze_stages_keeps_the_stem_and_first_stages(synthetic_root, tmp_path):
    """train.py --freeze_stages 1 from a checkpoint: the stem, blocks.0 and blocks.1 (weights and BN statistics)
    come out as they went in, later stages and the head have trained."""
    import glob
    import os
    import train as train_script
    from tests.support import TINY, tensor_entries
    start = str(tmp_path / "start.ckpt")
    ms.save_checkpoint(create_model("ghostnet_050", num_classes=4), start)
    out = str(tmp_path / "run")
    assert train_script.main(TINY + ["--data_path", synthetic_root, "--output_dir", out, "--epoch_size", "1",
                                     "--pretrained_ckpt", start, "--freeze_stages", "1"]) == 0
    before = tensor_entries(start)
    after = tensor_entries(sorted(glob.glob(os.path.join(out, "ckpt", "*.ckpt")))[-1])
    frozen = [k for k in before if k.startswith(("conv_stem.", "bn1.", "blocks.0.", "blocks.1."))]
    assert any(k.endswith("moving_mean") for k in frozen)
    for key in frozen:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)
    for key in ("blocks.3.0.conv_dw.weight", "blocks.5.0.bn_dw.moving_mean", "classifier.weight"):
        assert not np.array_equal(after[key], before[key]), key


def test_output_stride_reaches_our_depthwise_kernels(monkeypatch, pynative):
    """output_stride changes the stride and dilation of convs already built: our depthwise kernels must follow,
    so the dilated backbone gives the same maps with them as with MindSpore's own convolution."""
    from src.kernels.depthwise import DepthwiseConv2d, standard_ops
    from tests.support import ON_CI
    monkeypatch.setenv("GHOSTZOO_KERNELS", "all")
    net = create_model("mobilenet_v1_025", features_only=True, out_indices=(2, 3, 4), output_stride=8)
    convs = [c for _, c in net.cells_and_names() if isinstance(c, DepthwiseConv2d)]
    if not any(c.use_kernel for c in convs):
        assert not ON_CI, "our depthwise kernels did not build (g++ missing?)"
        pytest.skip("our depthwise kernels are not available here")
    assert any(c.dilation[-1] > 1 and c.use_kernel for c in convs)  # dilated convs run ours
    calibrate_batchnorm(net, ms.Tensor(_images(0, 4)))
    net.set_train(False)
    x = _images(1)
    ours = _maps(net, x)
    with standard_ops(net):
        reference = _maps(net, x)
    assert [m.shape for m in ours] == [m.shape for m in reference]
    for level, (a, b) in enumerate(zip(reference, ours)):
        assert relative_difference(a, b) < 1e-4, level
