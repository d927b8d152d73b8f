"""GhostNet (src/models/ghostnet.py): the official parameter names, and Ghost modules that need no slice."""
from src.models import create_model, list_models
from src.models.ghost import GhostModule


def test_registered_ghostnets_take_no_slice():
    """Every Ghost module of the registered GhostNets has widths that divide evenly (no slice in the graph)."""
    for name in [n for n in list_models("ghostnet_*") if not n.startswith("ghostnet_d_")]:  # D has none
        modules = [c for _, c in create_model(name).cells_and_names() if isinstance(c, GhostModule)]
        assert modules and not any(m.trim for m in modules), name


def test_official_key_layout():
    names = set(create_model("ghostnet_100").parameters_dict())
    for key in ("conv_stem.weight", "bn1.gamma", "blocks.0.0.ghost1.primary_conv.0.weight",
                "blocks.0.0.ghost1.cheap_operation.1.moving_variance", "blocks.1.0.conv_dw.weight",
                "blocks.1.0.bn_dw.beta", "blocks.3.0.se.conv_reduce.bias", "blocks.3.0.se.conv_expand.weight",
                "blocks.1.0.shortcut.2.weight", "blocks.9.0.conv.weight", "blocks.9.0.bn1.moving_mean",
                "conv_head.bias", "classifier.weight"):
        assert key in names, key
    assert not any(".se." in n for n in create_model("ghostnet_nose_100").parameters_dict())
