"""BatchNorm folding for inference: every BatchNorm of every architecture (at its narrowest width; every width with
GHOSTZOO_TEST_WIDTHS=all) folds into its convolution, and the folded network computes what the original computes
in eval mode."""
import numpy as np
import pytest
import mindspore as ms
from mindspore import nn

from src.deploy import calibrate_batchnorm, relative_difference
from src.models import create_model, fold_batchnorm, list_models, reparameterize
from tests.support import one_per_architecture

SIZE = 32
TOLERANCE = 1e-4  # max |difference| / max |logit|, as for the exported files (tests/deploy/test_export.py)
FAST = ("ghostnet_050", "mobilenet_v1_025")


def remaining_batchnorms(net):
    return [name for name, cell in net.cells_and_names() if isinstance(cell, (nn.BatchNorm2d, nn.BatchNorm1d))]


def _network(name, rng):
    """Random weights, BN statistics calibrated on random images, and random gammas / betas, so that each
    BatchNorm is far from the identity."""
    # initialisers draw from MindSpore's global seed: seeded, every run draws the same networks (seed 0 happens to
    # give ghostnetv3_050 an ill-conditioned draw whose rounding alone exceeds the tolerance)
    ms.set_seed(1)
    net = create_model(name, num_classes=7, image_size=SIZE)
    # GhostNetV3 / RepGhost sum several BN branches per layer: gammas spread by 0.5 in each give logits of 1e2 to
    # 3e4 through the depth, where float32 rounding alone exceeds the tolerance (tests/models/test_reparam.py: milder)
    spread = 0.1 if name.startswith(("ghostnetv3", "repghost")) else 0.5
    for param_name, param in net.parameters_and_names():
        if param_name.endswith(("gamma", "beta")):
            shift = 1.0 if param_name.endswith("gamma") else 0.0
            values = shift + spread * rng.standard_normal(param.shape)
            if param_name.endswith("bn3.gamma"):
                # small residual branches, as in tests/deploy/test_export.py: with gammas near 1 the random
                # 101-layer GhostNet-D amplifies float32 rounding stage after stage beyond the tolerance
                values *= 0.2
            param.set_data(ms.Tensor(values.astype(np.float32)))
    calibrate_batchnorm(net, ms.Tensor(rng.standard_normal((32, 3, SIZE, SIZE)).astype(np.float32)))
    for param_name, param in net.parameters_and_names():
        if param_name.endswith(("moving_mean", "moving_variance")):   # the folding has real statistics to fold
            values = param.asnumpy()
            assert np.ptp(values) > 0 and not np.allclose(values, 0 if "mean" in param_name else 1), param_name
    return net


def _check_informative(net, x, reference):
    """The comparison means something: logits of order one (not vanished or exploded through the depth) that
    depend on the input (another input moves them by much more than the tolerance)."""
    scale = float(np.abs(reference).max())
    assert 1e-2 < scale < 1e3, scale
    other = net(ms.Tensor(np.flip(x.asnumpy(), axis=3).copy() * 0.5 + 0.3)).asnumpy()
    assert relative_difference(reference, other) > 100 * TOLERANCE


@pytest.mark.parametrize("name", [n if n in FAST else pytest.param(n, marks=pytest.mark.slow)
                                  for n in one_per_architecture(list_models())])
def test_every_batchnorm_folds_and_the_output_stays(name):
    ms.set_context(mode=ms.PYNATIVE_MODE)
    rng = np.random.default_rng(0)
    net = _network(name, rng)
    reparameterize(net)  # as eval.py: GhostNetV3 / RepGhost deployed first (their identity-BN branches fold there)
    x = ms.Tensor(rng.standard_normal((2, 3, SIZE, SIZE)).astype(np.float32))
    net.set_train(False)
    reference = net(x).asnumpy()
    _check_informative(net, x, reference)
    bns = len(remaining_batchnorms(net))
    assert bns > 0
    assert fold_batchnorm(net) == bns
    assert remaining_batchnorms(net) == []
    assert not net.training
    assert relative_difference(reference, net(x).asnumpy()) < TOLERANCE


def test_folded_graph_matches_and_a_wrong_fold_would_show():
    """In graph mode too; and the comparison is sharp: folding with a wrong eps moves the logits."""
    from src.models import fuse
    ms.set_context(mode=ms.GRAPH_MODE)
    rng = np.random.default_rng(1)
    net = _network("ghostnet_050", rng)
    x = ms.Tensor(rng.standard_normal((2, 3, SIZE, SIZE)).astype(np.float32))
    net.set_train(False)
    reference = net(x).asnumpy()
    _check_informative(net, x, reference)
    folded = create_model("ghostnet_050", num_classes=7, image_size=SIZE)
    ms.load_param_into_net(folded, net.parameters_dict())
    fold_batchnorm(folded)
    assert relative_difference(reference, folded(x).asnumpy()) < TOLERANCE

    wrong = create_model("ghostnet_050", num_classes=7, image_size=SIZE)
    ms.load_param_into_net(wrong, net.parameters_dict())
    for _, cell in wrong.cells_and_names():
        if isinstance(cell, ms.nn.BatchNorm2d):
            cell.eps = 1e-2
    assert fuse.fold_batchnorm(wrong) > 0
    assert relative_difference(reference, wrong(x).asnumpy()) > 10 * TOLERANCE
