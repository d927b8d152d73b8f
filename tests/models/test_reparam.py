"""Re-parameterisation (src/models/reparam.py): GhostNetV3's and RepGhost's training-time branches folded into
single convolutions keep the network's outputs (eval mode, BN statistics calibrated so activations stay O(1)),
give the deployed structure, and the check fails when the fusion leaves out a branch or uses another BN eps."""
import mindspore as ms
import numpy as np
import pytest

from src.deploy import relative_difference
from src.engine.checkpoint import load_weights
from src.models import (can_reparameterize, create_model, ghost, ghostnetv3, list_models, reparam, reparameterize,
                        repghost)
from tests.support import one_per_architecture, perturbed_network


SIZE = 64          # the last stage's maps are 2x2: every DFC gate pools and upsamples
TOLERANCE = 5e-5   # max |difference| / max |logit|; measured 1.8e-6 .. 2.1e-5 (float32 rounding of the fused sums)
REPARAM_MODELS = one_per_architecture(list_models("ghostnetv3_*") + list_models("repghostnet_*"))


# The fast subset's share: both families in PyNative mode, and the graph-mode recompilation on the quicker one.
FAST = {("pynative", "ghostnetv3_050"), ("pynative", "repghostnet_050"), ("graph", "repghostnet_050")}

MODES = {"pynative": ms.PYNATIVE_MODE, "graph": ms.GRAPH_MODE}


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
    net = perturbed_network(name)
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
    net = perturbed_network("ghostnetv3_050")
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
    ("ghostnetv3_050", ghost, "scale"),           # the stride-2 depthwise conv's 1x1 scale branch left out
    ("repghostnet_050", repghost, "identity"),    # RepGhost's identity BN left out
    ("repghostnet_050", reparam, "eps"),          # the fusion normalising with eps 1e-3 instead of the BN's 1e-5
    pytest.param("ghostnetv3_050", ghostnetv3, "identity", marks=pytest.mark.slow),  # the BN skip branch left out
    pytest.param("ghostnetv3_050", reparam, "eps", marks=pytest.mark.slow),
])
def test_the_check_catches_a_faulty_fusion(name, where, fault, monkeypatch):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    net = perturbed_network(name)
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
