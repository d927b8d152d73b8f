"""Weight conversion (src/tools/convert_weights.py): timm's own networks (GhostNet 0.5 / 1.0 / 1.3, MobileNetV1
1.0, GhostNetV2 / V3, RepGhost; the GhostNet ones are the official code's) converted and checked against timm's
PyTorch forward pass, model-zoo checkpoints checked value by value, and the strictness and safety of the tool."""
import os
import sys

import mindspore as ms
import numpy as np
import pytest

from src.engine.checkpoint import load_weights
from src.models import create_model
from src.models.utils import count_params
from src.tools import convert_weights as cw
from tests import support as tr
from tests.support import ZOO, optional_torch, tensor_entries, zoo_checkpoint

torch, needs_torch = optional_torch()  # PyTorch and timm: optional here, required on CI
if torch is not None:
    from safetensors.torch import save_file


NUM_CLASSES = 11
SIZE = 64  # 64x64 inputs: every stride is exercised and the last feature map is 2x2
TOL = 1e-4


# GhostNetV3 sums 3 to 5 conv + BN branches per conv: float32 rounding grows with them. On ghostnetv3_100 ours
# differs from timm's float64 forward by 2.3e-5, timm's own float32 forward by 2.1e-5, the two float32 ones by up to
# 8.8e-5 (logits up to 3.9).
TOL_BY_MODEL = {"ghostnetv3_100": 2e-4}


pytestmark = pytest.mark.usefixtures("pynative")  # the whole module in PyNative mode


def _images(seed, batch=2):
    return np.random.default_rng(seed).standard_normal((batch, 3, SIZE, SIZE)).astype(np.float32)


def _convert(capsys, *args):
    rc = cw.main(list(args))
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _our_logits(name, num_classes, ckpt, images):
    net = create_model(name, num_classes=num_classes)
    load_weights(net, ckpt)
    net.set_train(False)
    return net, net(ms.Tensor(images)).asnumpy()


# ----------------------------------------------------------------------------------------------------------------
# timm / official PyTorch layouts against PyTorch's own forward pass
# ----------------------------------------------------------------------------------------------------------------

TORCH_NETS = {
    # --model as passed (timm's name for MobileNetV1), our name, timm's network, trainable parameters at 1000 classes
    "ghostnet_050": ("ghostnet_050", lambda n: tr.timm_model("ghostnet_050", n), 2_587_292),
    "ghostnet_100": ("ghostnet_100", lambda n: tr.timm_model("ghostnet_100", n), 5_182_508),
    "ghostnet_130": ("ghostnet_130", lambda n: tr.timm_model("ghostnet_130", n), 7_358_820),
    "mobilenetv1_100": ("mobilenet_v1_100", lambda n: tr.timm_model("mobilenetv1_100", n), 4_231_976),
    "ghostnetv2_100": ("ghostnetv2_100", lambda n: tr.timm_model("ghostnetv2_100", n), 6_156_908),
    "ghostnetv3_100": ("ghostnetv3_100", lambda n: tr.timm_model("ghostnetv3_100", n), 8_129_028),
    "repghostnet_100": ("repghostnet_100", lambda n: tr.timm_model("repghostnet_100", n), 4_073_604),
}


def _torch_net(model, seed=0):
    ours, build, _ = TORCH_NETS[model]
    torch.manual_seed(seed)
    net = build(NUM_CLASSES)
    return tr.randomize(net, seed, torch.from_numpy(_images(100 + seed, batch=16)))


@pytest.fixture(scope="module")
def ghostnet_050_state():
    """A calibrated PyTorch ghostnet_050 state_dict (numpy) for the failure cases."""
    return tr.state_dict_numpy(_torch_net("ghostnet_050"))


@needs_torch
def test_reference_networks_have_the_published_sizes():
    for model, (_, build, count) in TORCH_NETS.items():
        net = build(1000)
        assert sum(p.numel() for p in net.parameters()) == count, model


@needs_torch
@pytest.mark.parametrize("model", sorted(TORCH_NETS))
def test_timm_layout_reproduces_pytorch_logits(model, tmp_path, capsys):
    ours = TORCH_NETS[model][0]
    net = _torch_net(model)
    state = net.state_dict()
    assert any(k.endswith("num_batches_tracked") for k in state)
    save_file(state, str(tmp_path / "w.safetensors"))
    torch.save(state, str(tmp_path / "w.pth"))

    outputs = {}
    for suffix in ("safetensors", "pth"):
        out = str(tmp_path / f"{suffix}.ckpt")
        rc, stdout, err = _convert(capsys, "--source", "timm", "--model", model,
                                   "--input", str(tmp_path / f"w.{suffix}"), "--output", out)
        assert rc == 0, err
        assert f"{NUM_CLASSES} classes" in stdout
        outputs[suffix] = tensor_entries(out)
    assert outputs["safetensors"].keys() == outputs["pth"].keys()
    for k, v in outputs["safetensors"].items():
        np.testing.assert_array_equal(v, outputs["pth"][k])
    # BN statistics arrive as MindSpore's moving statistics, untouched.
    np.testing.assert_array_equal(outputs["pth"]["bn1.moving_variance"], state["bn1.running_var"].numpy())

    a, b = _images(1), _images(2)
    ours_net, ours_a = _our_logits(ours, NUM_CLASSES, str(tmp_path / "safetensors.ckpt"), a)
    ours_b = ours_net(ms.Tensor(b)).asnumpy()
    ref_a, ref_b = tr.logits(net, a), tr.logits(net, b)
    diff = max(np.abs(ours_a - ref_a).max(), np.abs(ours_b - ref_b).max())
    print(f"\n{model}: max |logit difference| = {diff:.3g}, logit std {ref_a.std():.3g}, "
          f"|A - B| max {np.abs(ref_a - ref_b).max():.3g}")
    assert ours_a.shape == (2, NUM_CLASSES)
    assert diff <= TOL_BY_MODEL.get(ours, TOL)
    assert 0.2 < ref_a.std() < 30 and np.abs(ref_a).max() < 100      # O(1) logits
    # The output depends on the input: images differ by far more than the tolerance.
    assert np.abs(ref_a - ref_b).max() > 1000 * TOL and np.abs(ref_a[0] - ref_a[1]).max() > 1000 * TOL


# Deployed sizes of timm's reparameterize_model (every parameter, requires_grad or not; timm detaches GhostNetV3's).
TIMM_DEPLOYED = {"ghostnetv3_100": 6_147_588, "repghostnet_100": 4_058_772}


@needs_torch
@pytest.mark.parametrize("model", [m if m.startswith("repghost") else pytest.param(m, marks=pytest.mark.slow)
                                   for m in sorted(TIMM_DEPLOYED)])
def test_deployed_forms_agree_with_timms(model, tmp_path, capsys):
    """Converted training-form weights, then both sides fold their branches (ours: reparameterize, timm's:
    reparameterize_model): the deployed networks agree as the training forms do, and have timm's deployed size."""
    from timm.utils.model import reparameterize_model
    net = _torch_net(model)
    save_file(net.state_dict(), str(tmp_path / "w.safetensors"))
    rc, _, err = _convert(capsys, "--source", "timm", "--model", model, "--input", str(tmp_path / "w.safetensors"),
                          "--output", str(tmp_path / "w.ckpt"))
    assert rc == 0, err
    a, b = _images(1), _images(2)
    ours, trained_form = _our_logits(model, NUM_CLASSES, str(tmp_path / "w.ckpt"), a)
    assert ours.reparameterize() > 0
    ours_a, ours_b = ours(ms.Tensor(a)).asnumpy(), ours(ms.Tensor(b)).asnumpy()
    deployed = reparameterize_model(net)
    assert sum(p.numel() for p in reparameterize_model(tr.timm_model(model, 1000)).parameters()) == \
        TIMM_DEPLOYED[model]
    ref_a, ref_b = tr.logits(deployed, a), tr.logits(deployed, b)
    diff = max(np.abs(ours_a - ref_a).max(), np.abs(ours_b - ref_b).max())
    print(f"\n{model} deployed: max |logit difference| = {diff:.3g} (training form against deployed: "
          f"{np.abs(trained_form - ours_a).max():.3g}), logit std {ref_a.std():.3g}")
    tol = TOL_BY_MODEL.get(model, TOL)
    assert diff <= tol
    assert 0.2 < ref_a.std() < 30 and np.abs(ref_a - ref_b).max() > 1000 * tol
    assert np.abs(trained_form - ours_a).max() <= tol


@needs_torch
def test_the_timm_comparison_catches_dfc_attention_errors(tmp_path, capsys, monkeypatch):
    """GhostNetV2's DFC attention as timm computes it, against ours on the same weights: a BN eps of 1e-3, a hard
    sigmoid gate, or bilinear instead of nearest upsampling in timm's network moves the logits far beyond the
    tolerance (at 96x96 the 6x6 and 3x3 maps are pooled to 3x3 and 1x1 and upsampled back: odd sizes included)."""
    size = 96
    images = np.random.default_rng(5).standard_normal((2, 3, size, size)).astype(np.float32)
    torch.manual_seed(0)
    net = tr.randomize(tr.timm_model("ghostnetv2_100", NUM_CLASSES), 0,
                       torch.from_numpy(np.random.default_rng(6).standard_normal((16, 3, size, size))
                                        .astype(np.float32)))
    save_file(net.state_dict(), str(tmp_path / "w.safetensors"))
    rc, _, err = _convert(capsys, "--source", "timm", "--model", "ghostnetv2_100",
                          "--input", str(tmp_path / "w.safetensors"), "--output", str(tmp_path / "w.ckpt"))
    assert rc == 0, err
    _, ours = _our_logits("ghostnetv2_100", NUM_CLASSES, str(tmp_path / "w.ckpt"), images)
    assert np.abs(ours - tr.logits(net, images)).max() <= TOL

    dfc = [m for name, m in net.named_modules() if name.endswith("ghost1") and hasattr(m, "short_conv")]
    assert len(dfc) == 14  # every bottleneck but the first two
    bns = [m for g in dfc for m in g.short_conv.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.eps = 1e-3
    assert np.abs(ours - tr.logits(net, images)).max() > 100 * TOL
    for bn in bns:
        bn.eps = 1e-5
    for g in dfc:
        g.gate_fn = torch.nn.Hardsigmoid()
    assert np.abs(ours - tr.logits(net, images)).max() > 100 * TOL
    for g in dfc:
        g.gate_fn = torch.nn.Sigmoid()
    assert np.abs(ours - tr.logits(net, images)).max() <= TOL
    interpolate = torch.nn.functional.interpolate
    monkeypatch.setattr(torch.nn.functional, "interpolate",
                        lambda x, size=None, mode="nearest", **kw: interpolate(x, size=size, mode="bilinear"))
    assert np.abs(ours - tr.logits(net, images)).max() > 100 * TOL


# ----------------------------------------------------------------------------------------------------------------
# Strictness and safety
# ----------------------------------------------------------------------------------------------------------------

def _write(state, path):
    save_file({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, path)
    return path


@needs_torch
def test_the_timm_comparison_catches_a_wrong_bn_eps_and_a_sigmoid_gate(tmp_path, capsys):
    """The tolerance above means something: timm's network with a BN eps of 1e-3 (ours: 1e-5) or a sigmoid SE
    gate (ours: relu6(x + 3) / 6) gives logits far from ours on the same weights."""
    net = _torch_net("ghostnet_050")
    save_file(net.state_dict(), str(tmp_path / "w.safetensors"))
    rc, _, err = _convert(capsys, "--source", "timm", "--model", "ghostnet_050", "--input",
                          str(tmp_path / "w.safetensors"), "--output", str(tmp_path / "w.ckpt"))
    assert rc == 0, err
    images = _images(1)
    _, ours = _our_logits("ghostnet_050", NUM_CLASSES, str(tmp_path / "w.ckpt"), images)
    assert np.abs(ours - tr.logits(net, images)).max() <= TOL
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eps = 1e-3
    assert np.abs(ours - tr.logits(net, images)).max() > 100 * TOL
    net = _torch_net("ghostnet_050")
    gates = 0
    for module in net.modules():
        if hasattr(module, "conv_reduce") and hasattr(module, "gate"):
            module.gate = torch.nn.Sigmoid()
            gates += 1
    assert gates > 0
    assert np.abs(ours - tr.logits(net, images)).max() > 100 * TOL


@needs_torch
def test_extra_key_fails_naming_it(ghostnet_050_state, tmp_path, capsys):
    state = dict(ghostnet_050_state, **{"blocks.3.0.se.extra.weight": np.zeros((3, 3), np.float32)})
    out = str(tmp_path / "out.ckpt")
    rc, _, err = _convert(capsys, "--source", "timm", "--model", "ghostnet_050",
                          "--input", _write(state, str(tmp_path / "w.safetensors")), "--output", out)
    assert rc == 2
    assert err.startswith("convert_weights: error: the weights do not fit ghostnet_050")
    assert "1 source tensor(s) not used: blocks.3.0.se.extra.weight" in err
    assert "not filled" not in err and not os.path.exists(out)


@needs_torch
def test_missing_keys_fail_naming_them(ghostnet_050_state, tmp_path, capsys):
    state = dict(ghostnet_050_state)
    del state["blocks.3.0.se.conv_reduce.weight"]
    del state["blocks.9.0.bn1.running_var"]  # BN moving statistics are required too
    rc, _, err = _convert(capsys, "--source", "timm", "--model", "ghostnet_050",
                          "--input", _write(state, str(tmp_path / "w.safetensors")),
                          "--output", str(tmp_path / "out.ckpt"))
    assert rc == 2
    assert "2 parameter(s) of ghostnet_050 not filled:" in err
    assert "blocks.3.0.se.conv_reduce.weight" in err and "blocks.9.0.bn1.moving_variance" in err
    assert "not used" not in err


@needs_torch
def test_wrong_shape_fails_naming_it(ghostnet_050_state, tmp_path, capsys):
    state = dict(ghostnet_050_state)
    state["conv_head.weight"] = np.zeros((1280, 480, 3, 3), np.float32)
    rc, _, err = _convert(capsys, "--source", "timm", "--model", "ghostnet_050",
                          "--input", _write(state, str(tmp_path / "w.safetensors")),
                          "--output", str(tmp_path / "out.ckpt"))
    assert rc == 2
    assert "shape mismatch(es): conv_head.weight (source conv_head.weight (1280, 480, 3, 3), ours (1280, 480, 1, 1))" \
        in err


@needs_torch
def test_other_width_is_refused(ghostnet_050_state, tmp_path, capsys):
    rc, _, err = _convert(capsys, "--source", "timm", "--model", "ghostnet_100",
                          "--input", _write(ghostnet_050_state, str(tmp_path / "w.safetensors")),
                          "--output", str(tmp_path / "out.ckpt"))
    assert rc == 2 and "shape mismatch" in err and "conv_stem.weight" in err


def _touch(path):
    with open(path, "w") as f:
        f.write("pickle code ran")
    return 0


class Payload:
    """An arbitrary object: unpickling it would run `_touch`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return _touch, (self.marker,)


@needs_torch
def test_pth_goes_through_weights_only(ghostnet_050_state, tmp_path, capsys):
    marker = str(tmp_path / "marker")
    state = {k: torch.from_numpy(v) for k, v in ghostnet_050_state.items()}
    torch.save({"state_dict": state, "payload": Payload(marker)}, str(tmp_path / "evil.pth"))
    rc, _, err = _convert(capsys, "--source", "timm", "--model", "ghostnet_050",
                          "--input", str(tmp_path / "evil.pth"), "--output", str(tmp_path / "out.ckpt"))
    assert rc == 2
    assert "weights_only" in err and "convert_weights: error: cannot read" in err
    assert not os.path.exists(marker)


@needs_torch
def test_pth_training_checkpoint_is_unwrapped(ghostnet_050_state, tmp_path, capsys):
    """`state_dict` / `state_dict_ema` entries and a DataParallel `module.` prefix; --ema picks the EMA weights."""
    state = {f"module.{k}": torch.from_numpy(v) for k, v in ghostnet_050_state.items()}
    ema = {k: v * 2 if v.is_floating_point() else v for k, v in state.items()}
    torch.save({"epoch": 3, "arch": "ghostnet_050", "state_dict": state, "state_dict_ema": ema},
               str(tmp_path / "train.pth"))
    for flags, factor in (([], 1), (["--ema"], 2)):
        out = str(tmp_path / f"out{factor}.ckpt")
        rc, _, err = _convert(capsys, "--source", "timm", "--model", "ghostnet_050",
                              "--input", str(tmp_path / "train.pth"), "--output", out, *flags)
        assert rc == 0, err
        got = ms.load_checkpoint(out)
        np.testing.assert_array_equal(got["conv_head.weight"].asnumpy(),
                                      factor * ghostnet_050_state["conv_head.weight"])


@needs_torch
def test_safetensors_needs_no_torch_and_pth_without_torch_is_explained(ghostnet_050_state, tmp_path, capsys,
                                                                       monkeypatch):
    path = _write(ghostnet_050_state, str(tmp_path / "w.safetensors"))
    torch.save({k: torch.from_numpy(v) for k, v in ghostnet_050_state.items()}, str(tmp_path / "w.pth"))
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    rc, _, err = _convert(capsys, "--source", "timm", "--model", "ghostnet_050", "--input", path,
                          "--output", str(tmp_path / "out.ckpt"))
    assert rc == 0, err
    rc, _, err = _convert(capsys, "--source", "timm", "--model", "ghostnet_050", "--input", str(tmp_path / "w.pth"),
                          "--output", str(tmp_path / "out2.ckpt"))
    assert rc == 2 and "needs PyTorch" in err and ".safetensors" in err


@needs_torch
def test_existing_read_only_output_is_replaced(ghostnet_050_state, tmp_path, capsys):
    path = _write(ghostnet_050_state, str(tmp_path / "w.safetensors"))
    out = str(tmp_path / "out.ckpt")
    for _ in range(2):
        rc, _, err = _convert(capsys, "--source", "timm", "--model", "ghostnet_050", "--input", path, "--output", out)
        assert rc == 0, err
        os.chmod(out, 0o444)


@pytest.mark.parametrize("args, message", [
    (["--source", "timm", "--model", "resnet50"], "no conversion of model 'resnet50' from --source timm"),
    (["--source", "timm", "--model", "ghostnet_600m"], "convertible: ghostnet_050, ghostnet_100"),
    (["--source", "modelzoo", "--model", "ghostnet_050"],
     "no conversion of model 'ghostnet_050' from --source modelzoo"),
    (["--source", "caffe", "--model", "ghostnet_100"], "invalid choice: 'caffe'"),
])
def test_unknown_model_or_source_is_refused(args, message, tmp_path, capsys):
    rc, _, err = _convert(capsys, *args, "--input", str(tmp_path / "w.safetensors"),
                          "--output", str(tmp_path / "out.ckpt"))
    assert rc == 2
    assert "convert_weights: error:" in err and message in err


def test_missing_input_and_bad_output(tmp_path, capsys):
    rc, _, err = _convert(capsys, "--source", "timm", "--model", "ghostnet_050",
                          "--input", str(tmp_path / "nope.safetensors"), "--output", str(tmp_path / "o.ckpt"))
    assert rc == 2 and "input '" in err and "does not exist" in err
    rc, _, err = _convert(capsys, "--source", "timm", "--model", "ghostnet_050",
                          "--input", str(tmp_path / "nope.safetensors"), "--output", str(tmp_path / "o.npz"))
    assert rc == 2 and "must end with .ckpt" in err
    rc, _, err = _convert(capsys, "--source", "timm", "--model", "ghostnet_050",
                          "--input", str(tmp_path / "w.ckpt"), "--output", str(tmp_path / "o.ckpt"))
    assert rc == 2 and "--source timm reads .safetensors, .pth, .pt, .bin files" in err


# ----------------------------------------------------------------------------------------------------------------
# MindSpore model-zoo checkpoints (written by tests.support.zoo_checkpoint)
# ----------------------------------------------------------------------------------------------------------------



@pytest.mark.parametrize("model", sorted(ZOO))
def test_modelzoo_checkpoint_converts_value_by_value(model, tmp_path, capsys):
    head = ZOO[model][0]
    source = str(tmp_path / "zoo.ckpt")
    zoo, names = zoo_checkpoint(model, source)
    out = str(tmp_path / "ours.ckpt")
    rc, stdout, err = _convert(capsys, "--source", "modelzoo", "--model", model, "--input", source, "--output", out)
    assert rc == 0, err
    assert f"({head} classes)" in stdout

    converted = tensor_entries(out)
    assert set(converted) == set(names)
    for ours_name, zoo_name in names.items():
        np.testing.assert_array_equal(converted[ours_name], zoo[zoo_name], err_msg=ours_name)

    net = create_model(model, num_classes=head)
    assert set(load_weights(net, out)) == {"ghostzoo_record"}  # no training state, only the model record
    from src.engine.checkpoint import open_checkpoint
    record = open_checkpoint(out).record
    assert (record.model, record.num_classes, record.source) == (model, head, "convert_weights (modelzoo) of zoo.ckpt")
    for ours_name, param in net.parameters_dict().items():
        np.testing.assert_array_equal(param.asnumpy(), zoo[names[ours_name]], err_msg=ours_name)
    if model == "mobilenet_v1_100":
        assert net.classifier.weight.shape == (1001, 1024)
        assert count_params(net) == 4_233_001


def test_modelzoo_checkpoint_of_another_variant_is_refused(tmp_path, capsys):
    source = str(tmp_path / "zoo.ckpt")
    zoo_checkpoint("ghostnet_100", source)
    rc, _, err = _convert(capsys, "--source", "modelzoo", "--model", "ghostnet_nose_100", "--input", source,
                          "--output", str(tmp_path / "out.ckpt"))
    assert rc == 2
    assert "not used: blocks.3.se.conv_reduce.weight (as blocks.3.0.se.conv_reduce.weight)" in err
    assert "not filled" not in err
