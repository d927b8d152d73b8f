"""Name conversion (src/models/convert.py): the official GhostNetV3 checkpoint's names convert like timm's."""
import numpy as np

from tests import support as tr
from tests.support import optional_torch

torch, needs_torch = optional_torch()  # PyTorch and timm: optional here, required on CI


NUM_CLASSES = 11


@needs_torch
def test_official_ghostnetv3_names_convert_like_timms():
    """The official GhostNetV3 checkpoint names the branches' BN `bn` (timm: `bn1`) and carries thop's
    `total_ops` / `total_params` counters; both forms give the same parameters."""
    from src.models import convert_state_dict
    state = tr.state_dict_numpy(tr.timm_model("ghostnetv3_050", NUM_CLASSES))
    official = {}
    for key, value in state.items():
        if (".ghost" in key or ".dw_rpr_" in key) and ".bn1." in key:
            key = key.replace(".bn1.", ".bn.")
        official[key] = value
    renamed = sum(".bn." in k for k in official)
    assert renamed > 500
    official.update({"total_ops": np.zeros(1), "total_params": np.zeros(1),
                     "blocks.3.0.ghost1.total_ops": np.zeros(1), "conv_stem.total_params": np.zeros(1)})
    expected = convert_state_dict("timm", "ghostnetv3_050", state)
    got = convert_state_dict("timm", "ghostnetv3_050", official)
    assert list(got) == list(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value)
    assert "blocks.3.0.ghost1.primary_rpr_conv.0.bn1.moving_variance" in got
