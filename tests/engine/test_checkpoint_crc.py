"""Checkpoints carry a CRC of their content: a damaged file is refused by name instead of loading changed weights;
checkpoints written before (without a CRC) still load."""
import os

import mindspore as ms
import numpy as np
import pytest

from src.engine.checkpoint import has_crc, read_checkpoint
from src.errors import CheckpointError
from src.outputs import atomic_save_checkpoint
from tests.support import ROOT

OLD_CHECKPOINT = os.path.join(ROOT, "tests", "data", "pre_redesign_mobilenet_v1_025_best.ckpt")


def _entries(rng):
    return {"features.weight": rng.standard_normal((64, 32)).astype(np.float32),
            "features.bias": rng.standard_normal(64).astype(np.float32),
            "global_step": np.array([7], np.int32)}


def _write(path, entries):
    atomic_save_checkpoint([{"name": k, "data": ms.Tensor(v)} for k, v in entries.items()], str(path),
                           append_dict={"epoch_num": 3})


def _damage_tensor_data(path, array):
    """Overwrite 64 bytes inside `array`'s data in the file (as a failed disk or copy would)."""
    data = bytearray(path.read_bytes())
    raw = array.tobytes()
    start = data.find(raw[:256])
    assert start >= 0, "the tensor's bytes are not stored as such"
    offset = start + len(raw) // 2
    data[offset:offset + 64] = bytes(255 - b for b in data[offset:offset + 64])
    os.chmod(path, 0o600)  # MindSpore writes checkpoints read-only
    path.write_bytes(bytes(data))


def test_every_checkpoint_written_carries_a_crc_and_loads_intact(tmp_path):
    entries = _entries(np.random.default_rng(0))
    path = tmp_path / "net.ckpt"
    _write(path, entries)
    assert has_crc(str(path))
    loaded = read_checkpoint(str(path))
    for name, value in entries.items():
        assert np.array_equal(loaded[name].asnumpy(), value), name
    assert int(loaded["epoch_num"].asnumpy()) == 3


def test_damaged_tensor_data_is_refused_naming_the_file(tmp_path):
    entries = _entries(np.random.default_rng(1))
    path = tmp_path / "net.ckpt"
    _write(path, entries)
    _damage_tensor_data(path, entries["features.weight"])
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(str(path))
    message = str(info.value)
    assert f"checkpoint '{path}' is damaged" in message and "CRC" in message


def test_damage_is_what_the_crc_catches(tmp_path):
    """The deliberate mistake: without the CRC check the same damage loads, with the weights changed."""
    entries = _entries(np.random.default_rng(1))
    path = tmp_path / "net.ckpt"
    _write(path, entries)
    _damage_tensor_data(path, entries["features.weight"])
    loaded = ms.load_checkpoint(str(path))  # unchecked
    assert not np.array_equal(loaded["features.weight"].asnumpy(), entries["features.weight"])


def test_checkpoints_without_a_crc_still_load(tmp_path):
    assert not has_crc(OLD_CHECKPOINT)
    loaded = read_checkpoint(OLD_CHECKPOINT)
    assert any(name.endswith("weight") for name in loaded)
    entries = _entries(np.random.default_rng(2))
    plain = tmp_path / "plain.ckpt"
    ms.save_checkpoint([{"name": k, "data": ms.Tensor(v)} for k, v in entries.items()], str(plain))
    assert not has_crc(str(plain))
    assert np.array_equal(read_checkpoint(str(plain))["features.bias"].asnumpy(), entries["features.bias"])


def test_converted_and_ema_checkpoints_carry_a_crc(tmp_path):
    from src.engine.ema import WeightEMA, save_ema
    from src.tools.convert_weights import save
    entries = _entries(np.random.default_rng(3))
    converted = tmp_path / "converted.ckpt"
    save(entries, str(converted))
    save(entries, str(converted))  # replacing an existing (read-only) file
    assert has_crc(str(converted))
    net = ms.nn.Dense(3, 2)
    ema_path = tmp_path / "ema.ckpt"
    save_ema(WeightEMA(net, 0.9), str(ema_path))
    assert has_crc(str(ema_path))


def test_eval_of_a_damaged_checkpoint_is_one_error_line(tmp_path, capsys):
    import eval as eval_script
    from src.models import create_model
    net = create_model("ghostnet_050", num_classes=4)
    path = tmp_path / "ghostnet_050.ckpt"
    atomic_save_checkpoint(net, str(path))
    weight = max(net.get_parameters(), key=lambda p: p.size).asnumpy()
    _damage_tensor_data(path, weight)
    rc = eval_script.main(["--checkpoint_path", str(path), "--data_path", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and f"'{path}' is damaged" in lines[0], err[-2000:]
