"""The weight EMA: update rule against NumPy, swap, and its checkpoint."""
import numpy as np
import mindspore as ms
from mindspore import nn

from src.engine.ema import WeightEMA, save_ema
from src.engine.checkpoint import load_weights


class Tiny(nn.Cell):
    def __init__(self):
        super().__init__()
        self.fc = nn.Dense(3, 2)
        self.bn = nn.BatchNorm1d(2)

    def construct(self, x):
        return self.bn(self.fc(x))


def test_update_rule_and_swap(tmp_path):
    ms.set_context(mode=ms.GRAPH_MODE)
    net = Tiny()
    ema = WeightEMA(net, decay=0.9)
    assert all(np.array_equal(p.asnumpy(), a.asnumpy()) for p, a in zip(ema.params, ema.averages))
    start = {p.name: p.asnumpy().copy() for p in net.get_parameters()}
    expected = dict(start)
    for t in (1, 2, 3):
        for p in net.get_parameters():
            p.set_data(ms.Tensor(p.asnumpy() + t, p.dtype))
        decay = min(0.9, (1 + t) / (10 + t))
        ema()
        for p in net.get_parameters():
            expected[p.name] = expected[p.name] * decay + p.asnumpy() * (1 - decay)
    for a in ema.averages:
        np.testing.assert_allclose(a.asnumpy(), expected[a.name[len("ema."):]], rtol=1e-5, err_msg=a.name)
    current = {p.name: p.asnumpy().copy() for p in net.get_parameters()}
    ema.swap()
    for p in net.get_parameters():
        np.testing.assert_allclose(p.asnumpy(), expected[p.name], rtol=1e-5)
    ema.swap()
    for p in net.get_parameters():
        np.testing.assert_array_equal(p.asnumpy(), current[p.name])
    # the saved average is a plain network checkpoint
    save_ema(ema, str(tmp_path / "tiny_ema.ckpt"))
    other = Tiny()
    state = load_weights(other, str(tmp_path / "tiny_ema.ckpt"))
    assert float(state["ema_updates"].asnumpy()) == 3
    for p in other.get_parameters():
        np.testing.assert_allclose(p.asnumpy(), expected[p.name], rtol=1e-5)
