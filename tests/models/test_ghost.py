"""The Ghost family's blocks (src/models/ghost.py): the Ghost module against the official concatenate-then-slice."""
import mindspore as ms
import numpy as np
import pytest

from src.models.ghost import GhostModule


@pytest.mark.parametrize("out_channels, ratio", [(7, 2), (8, 3), (8, 2)])
def test_ghost_module_equals_the_official_concat_then_slice(out_channels, ratio):
    """The slice, when the widths need one, is taken on the cheap maps before the concatenation: the same output
    as the official concatenate-then-slice, in graph mode too."""
    ms.set_context(mode=ms.GRAPH_MODE)
    module = GhostModule(4, out_channels, ratio=ratio)
    module.set_train(False)
    x = ms.Tensor(np.random.default_rng(0).standard_normal((2, 4, 6, 6)).astype(np.float32))
    out = module(x).asnumpy()
    assert out.shape == (2, out_channels, 6, 6)
    x1 = module.primary_conv(x)
    official = np.concatenate([x1.asnumpy(), module.cheap_operation(x1).asnumpy()], axis=1)[:, :out_channels]
    np.testing.assert_allclose(out, official, rtol=1e-6, atol=1e-6)
    assert module.trim == (out_channels % ratio != 0)
