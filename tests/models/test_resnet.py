"""The ResNet bottleneck (src/models/resnet.py) is the one GENet and GhostNet-D build on; GhostNet600 is the
GhostNet class with its own table."""
from src.models import create_model


def test_one_ghostnet_class_one_bottleneck_class():
    """GhostNet600 is the GhostNet class with its own table; GENet and GhostNet-D use one ResNet bottleneck."""
    from src.models.ghostnet import GhostNet
    from src.models.resnet import Bottleneck
    assert type(create_model("ghostnet_600m")) is GhostNet
    for name in ("genet_res50_theta", "ghostnet_d_50"):
        cells = {type(c).__name__ for _, c in create_model(name).cells_and_names()}
        assert Bottleneck.__name__ in cells and not cells & {"GEBottleneck"}, name
