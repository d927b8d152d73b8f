"""Re-parameterisation (src/models/reparam.py): GhostNetV3's and RepGhost's training-time branches folded into
single convolutions keep the network's outputs (eval mode, BN statistics calibrated so activations stay O(1)),
give the deployed structure, and the check fails when the fusion leaves out a branch or uses another BN eps."""
import numpy as np
import pytest
import mindspore as ms
from mindspore import nn

from src.deploy import calibrate_batchnorm, relative_difference
from src.engine.checkpoint import load_weights
from src.models import can_reparameterize, create_model, list_models, reparameterize
from src.models import ghostnetv3, layers, reparam, repghost

SIZE = 64          # the last stage's maps are 2x2: every DFC gate pools and upsamples
TOLERANCE = 5e-5   # max |difference| / max |logit|; measured 1.8e-6 .. 2.1e-5 (float32 rounding of the fused sums)
REPARAM_MODELS = list_models("ghostnetv3_*") + list_models("repghostnet_*")
# The fast subset's share: both families in PyNative mode, and the graph-mode recompilation on the quicker one.
FAST = {("pynative", "ghostnetv3_050"), ("pynative", "repghostnet_050"), ("graph", "repghostnet_050")}
MODES = {"pynative": ms.PYNATIVE_MODE, "graph": ms.GRAPH_MODE}


def _network(name: str, seed: int = 0):
    """Deterministic random weights (He-normal, fan in), random BN gamma and beta, moving statistics calibrated on
    random images and then perturbed (so no BN exactly normalises its input or is an identity, and every branch
    matters), eval mode."""
    rng = np.random.default_rng(seed)
    net = create_model(name, num_classes=7, drop_rate=0.0)
    for _, cell in net.cells_and_names():
        if isinstance(cell, (nn.Conv2d, nn.Dense)):
            shape = cell.weight.shape
            fan_in = int(np.prod(shape[1:]))
            cell.weight.set_data(ms.Tensor((rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)))
            if cell.bias is not None:
                cell.bias.set_data(ms.Tensor(rng.uniform(-0.1, 0.1, cell.bias.shape).astype(np.float32)))
    bns = [cell for _, cell in net.cells_and_names() if isinstance(cell, nn.BatchNorm2d)]
    for bn in bns:
        channels = bn.gamma.shape[0]
        bn.gamma.set_data(ms.Tensor(rng.uniform(0.5, 1.5, channels).astype(np.float32)))
        bn.beta.set_data(ms.Tensor(rng.uniform(-0.5, 0.5, channels).astype(np.float32)))
    calibrate_batchnorm(net, ms.Tensor(rng.standard_normal((16, 3, SIZE, SIZE)).astype(np.float32)))
    for bn in bns:
        mean, var = bn.moving_mean.asnumpy(), bn.moving_variance.asnumpy()
        bn.moving_mean.set_data(ms.Tensor((mean + 0.1 * np.sqrt(var) * rng.uniform(-1, 1, mean.shape))
                                          .astype(np.float32)))
        bn.moving_variance.set_data(ms.Tensor((var * rng.uniform(0.8, 1.25, var.shape)).astype(np.float32)))
    net.set_train(False)
    return net


def _inputs(seed: int = 1):
    rng = np.random.default_rng(seed)
    return [ms.Tensor(rng.standard_normal((2, 3, SIZE, SIZE)).astype(np.float32)) for _ in range(2)]


def _check_meaningful(before, other):
    """Logits O(1) that depend on the input far beyond the tolerance."""
    assert 0.05 < np.abs(before).max() < 100
    assert relative_difference(before, other) > 1000 * TOLERANCE


@pytest.mark.parametrize("mode,name", [(m, n) if (m, n) in FAST else pytest.param(m, n, marks=pytest.mark.slow)
                                       for m in MODES for n in REPARAM_MODELS])
def test_folding_keeps_the_outputs(mode, name):
    """The same network object before and after: in graph mode this also checks that the multi-branch graph
    compiled before is not reused."""
    ms.set_context(mode=MODES[mode])
    net = _network(name)
    x, other = _inputs()
    before = net(x).asnumpy()
    _check_meaningful(before, net(other).asnumpy())
    assert can_reparameterize(net)
    folded = net.reparameterize()
    assert folded == (36 if name.startswith("ghostnetv3") else 32)  # 32 Ghost modules (+ 4 stride-2 dw in V3)
    after = net(x).asnumpy()
    diff = relative_difference(before, after)
    print(f"\n{name}: relative difference after folding {diff:.3g}")
    assert diff < TOLERANCE
    # the fused convs are what runs now (a stale multi-branch graph would not see this change)
    bias = next(p for p in net.get_parameters() if "cheap_operation" in p.name and p.name.endswith("bias"))
    bias.set_data(ms.Tensor(bias.asnumpy() + 1.0))
    assert relative_difference(after, net(x).asnumpy()) > 1000 * TOLERANCE
    names = [p.name for p in net.get_parameters()]
    assert not [n for n in names if "_rpr_" in n or "fusion_bn" in n]
    assert names == [path for path, _ in net.parameters_and_names()] and len(set(names)) == len(names)
    assert not can_reparameterize(net) and reparameterize(net) == 0


def test_deployed_structure():
    """GhostNetV3 deployed: 1x1 and 3x3 depthwise convs with bias in every Ghost module, one k x k depthwise conv
    with bias (no BN) in each stride-2 block; RepGhost: the cheap operation is one conv with bias."""
    v3 = create_model("ghostnetv3_050")
    v3.reparameterize()
    params = v3.parameters_dict()
    for key in ("blocks.3.0.ghost1.primary_conv.0.bias", "blocks.3.0.ghost1.cheap_operation.0.weight",
                "blocks.3.0.conv_dw.bias", "blocks.3.0.ghost1.short_conv.5.moving_variance"):
        assert key in params, key
    assert not any(k.startswith("blocks.3.0.bn_dw") for k in params)
    assert params["blocks.3.0.conv_dw.weight"].shape == (36, 1, 5, 5)
    rep = create_model("repghostnet_050")
    rep.reparameterize()
    params = rep.parameters_dict()
    assert params["blocks.1.0.ghost1.cheap_operation.weight"].shape == (12, 1, 3, 3)
    assert "blocks.1.0.ghost1.cheap_operation.bias" in params
    assert not any("fusion_bn" in k or "cheap_operation.1." in k for k in params)


def test_a_deployed_checkpoint_loads_into_a_deployed_network(tmp_path):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    net = _network("ghostnetv3_050")
    net.reparameterize()
    x, _ = _inputs()
    path = str(tmp_path / "deployed.ckpt")
    ms.save_checkpoint(net, path)
    fresh = create_model("ghostnetv3_050", num_classes=7, drop_rate=0.0)
    fresh.reparameterize()
    load_weights(fresh, path)
    fresh.set_train(False)
    np.testing.assert_array_equal(fresh(x).asnumpy(), net(x).asnumpy())


def _zero_branch(branch):
    kernel, bias = branch
    return np.zeros_like(kernel), np.zeros_like(bias)


@pytest.mark.parametrize("name,where,fault", [
    ("ghostnetv3_050", layers, "scale"),          # the stride-2 depthwise conv's 1x1 scale branch left out
    ("repghostnet_050", repghost, "identity"),    # RepGhost's identity BN left out
    ("repghostnet_050", reparam, "eps"),          # the fusion normalising with eps 1e-3 instead of the BN's 1e-5
    pytest.param("ghostnetv3_050", ghostnetv3, "identity", marks=pytest.mark.slow),  # the BN skip branch left out
    pytest.param("ghostnetv3_050", reparam, "eps", marks=pytest.mark.slow),
])
def test_the_check_catches_a_faulty_fusion(name, where, fault, monkeypatch):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    net = _network(name)
    x, _ = _inputs()
    before = net(x).asnumpy()
    if fault == "identity":
        fuse = where.fuse_identity_bn
        monkeypatch.setattr(where, "fuse_identity_bn", lambda *a, **k: _zero_branch(fuse(*a, **k)))
    elif fault == "scale":
        fuse = where.fuse_conv_bn

        def skip_scale(conv, bn):  # the scale branch is the 1x1 one beside the k x k depthwise branches
            branch = fuse(conv, bn)
            return _zero_branch(branch) if tuple(conv.kernel_size) == (1, 1) else branch
        monkeypatch.setattr(where, "fuse_conv_bn", skip_scale)
    else:
        def wrong_eps(bn):
            std = np.sqrt(bn.moving_variance.asnumpy().astype(np.float64) + 1e-3)
            scale = bn.gamma.asnumpy() / std
            return scale, bn.beta.asnumpy() - bn.moving_mean.asnumpy() * scale
        monkeypatch.setattr(where, "bn_scale_shift", wrong_eps)
    net.reparameterize()
    diff = relative_difference(before, net(x).asnumpy())
    print(f"\n{name} with the {fault} fault: relative difference {diff:.3g}")
    assert diff > 100 * TOLERANCE


# ----------------------------------------------------------------------------------------------------------------
# Entry points: export.py and eval.py fold by default, --reparam false keeps the branches
# ----------------------------------------------------------------------------------------------------------------

def test_export_folds_by_default(tmp_path, capsys):
    import onnx
    import export as export_script
    from src.deploy import run_onnx
    ms.set_context(mode=ms.PYNATIVE_MODE)
    net = _network("repghostnet_050")
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
def test_eval_scores_the_same_with_and_without_folding(synthetic_root, tmp_path, capsys):
    import json
    import eval as eval_script
    from tests.support import TINY
    net = _network("ghostnetv3_050")
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


def test_model_info_lists_training_and_deployed_sizes(capsys):
    from src.tools import model_info
    assert model_info.main(["ghostnet_050", "ghostnetv3_050", "repghostnet_050"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert rows[0] == "| model | parameters (1000 classes) | MACs at 224x224 |"
    assert rows[2:] == ["| ghostnet_050 | 2,587,292 | 42.3M |",
                        "| ghostnetv3_050 | 3,395,384 | 117.5M |",
                        "| ghostnetv3_050 (deployed) | 2,853,176 | 49.6M |",
                        "| repghostnet_050 | 2,313,968 | 43.3M |",
                        "| repghostnet_050 (deployed) | 2,306,528 | 43.3M |"]
