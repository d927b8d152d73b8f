"""count_macs against published and timm figures, and freeze_batch_norm (src/models/utils.py)."""
import numpy as np
import pytest

from src.models import count_macs, create_model


@pytest.mark.parametrize("name,macs", [("ghostnet_050", 42e6), ("ghostnet_100", 141e6), ("ghostnet_130", 226e6),
                                       ("mobilenet_v1_100", 569e6), ("ghostnet_600m", 0.49e9)])
def test_macs_match_published_figures(name, macs):
    assert count_macs(create_model(name), 224) == pytest.approx(macs, rel=0.01)


# MACs at 224 (convolutions and dense layers, batch 1) of timm 1.0.31's networks, counted with forward hooks, in
# training form and after timm's reparameterize_model; RepGhost's round to the MACs in the official checkpoints'
# file names (43M ... 516M).
TIMM_MACS = {
    "ghostnetv2_100": (167_048_288, 167_048_288),
    "ghostnetv2_160": (398_607_224, 398_607_224),
    "ghostnetv3_050": (117_528_000, 49_640_656),
    "ghostnetv3_100": (404_128_320, 167_048_288),
    "repghostnet_050": (43_314_720, 43_314_720),
    "repghostnet_100": (142_394_128, 142_394_128),
    "repghostnet_200": (515_869_856, 515_869_856),
}


@pytest.mark.parametrize("name", sorted(TIMM_MACS))
def test_macs_of_the_newer_ghostnets_match_timm(name):
    net = create_model(name)
    training, deployed = TIMM_MACS[name]
    assert count_macs(net, 224) == training
    net.reparameterize()
    assert count_macs(net, 224) == deployed


def test_freeze_bn_makes_training_mode_use_running_statistics():
    import mindspore as ms
    from src.deploy import calibrate_batchnorm
    from src.models import create_model, freeze_batch_norm
    rng = np.random.default_rng(0)
    net = create_model("mobilenet_v1_025", num_classes=3, drop_rate=0.0)
    calibrate_batchnorm(net, ms.Tensor(rng.standard_normal((8, 3, 32, 32)).astype(np.float32)))  # O(1) outputs
    x = ms.Tensor(rng.standard_normal((4, 3, 32, 32)).astype(np.float32) * 2 + 0.5)
    net.set_train(False)
    inference = net(x).asnumpy()
    scale = np.abs(inference).max()
    assert scale > 0.1 and np.abs(inference - inference.mean(axis=0)).max() > 0.01 * scale  # depends on the input
    assert freeze_batch_norm(net) == 27  # every BN layer of mobilenet_v1_025
    before = net.bn1.moving_mean.asnumpy().copy()
    net.set_train(True)
    assert np.abs(net(x).asnumpy() - inference).max() < 1e-4 * scale
    np.testing.assert_array_equal(net.bn1.moving_mean.asnumpy(), before)  # the statistics stay fixed
    # control: the same weights and statistics without freeze_bn give another output in training mode (a second
    # network, since a compiled graph keeps the attribute it was compiled with)
    control = create_model("mobilenet_v1_025", num_classes=3, drop_rate=0.0)
    ms.load_param_into_net(control, {p.name: p for p in net.get_parameters()}, strict_load=True)
    control.set_train(True)
    assert np.abs(control(x).asnumpy() - inference).max() > 0.01 * scale
