"""Tags to loaded networks without the internet: a MindCV checkpoint served on loopback and a timm file in a
pre-filled Hugging Face cache (HF_HUB_OFFLINE=1) are fetched, verified, converted once into our checkpoint with its
record, and loaded by create_model(pretrained=...)."""
import hashlib
import os

import numpy as np
import pytest

import mindspore as ms

from src.engine.checkpoint import recorded_model_kwargs
from src.engine.record import record_of
from src.models import create_model
from src.weights import fetch, get_tag, resolve_pretrained, tags
from src.weights.tags import WeightTag
from tests.weights.server import WeightServer


def _add_tag(monkeypatch, tag: WeightTag):
    monkeypatch.setitem(tags._BY_NAME, tag.name, tag)


@pytest.fixture(scope="module")
def mindcv_file(tmp_path_factory):
    """A checkpoint written by MindCV's own mobilenet_v1_025 (1001 classes) and its sha256."""
    mindcv = pytest.importorskip("mindcv")
    folder = tmp_path_factory.mktemp("site")
    net = mindcv.create_model("mobilenet_v1_025", num_classes=1001)
    ms.save_checkpoint(net, str(folder / "mobilenet_v1_025-test.ckpt"))
    data = (folder / "mobilenet_v1_025-test.ckpt").read_bytes()
    return str(folder), hashlib.sha256(data).hexdigest()


@pytest.fixture
def mindcv_tag(mindcv_file, tmp_path, monkeypatch):
    folder, sha = mindcv_file
    monkeypatch.setenv("GHOSTZOO_HOME", str(tmp_path / "home"))
    with WeightServer(folder) as server:
        tag = WeightTag("mobilenet_v1_025.test", "mindcv", "mobilenet_v1_025-test.ckpt",
                        url=f"{server.url}/mobilenet_v1_025-test.ckpt", sha256=sha, num_classes=1001,
                        label_set="imagenet-1k+1", model_kwargs={"act": "relu"})
        _add_tag(monkeypatch, tag)
        yield tag, server


def test_tag_is_fetched_converted_once_and_recorded(mindcv_tag):
    tag, server = mindcv_tag
    path = resolve_pretrained("mobilenet_v1_025", "mobilenet_v1_025.test")
    record = record_of(ms.load_checkpoint(path))
    assert record.model == "mobilenet_v1_025" and record.num_classes == 1001
    assert record.classes[281] == "tabby, tabby cat" and len(record.classes) == 1001
    assert record.model_kwargs == {"act": "relu"} and record.preprocessing.interpolation == "bilinear"
    assert "mobilenet_v1_025.test" in record.source
    assert recorded_model_kwargs(path) == {"act": "relu"}  # what train.py builds a fine-tuned network with
    server.__exit__()  # offline: the converted checkpoint is found in the cache
    assert resolve_pretrained("mobilenet_v1_025", "test") == path
    assert server.requests == ["mobilenet_v1_025-test.ckpt"]


def test_create_model_pretrained_heads(mindcv_tag):
    tag, _ = mindcv_tag
    full = create_model("mobilenet_v1_025", pretrained=tag.name)
    assert full.num_classes == 1001
    sliced = create_model("mobilenet_v1_025", pretrained=tag.name, num_classes=1000)
    head = full.classifier.weight.asnumpy()
    np.testing.assert_array_equal(sliced.classifier.weight.asnumpy(), head[:1000])
    new = create_model("mobilenet_v1_025", pretrained=tag.name, num_classes=5)
    assert new.classifier.weight.shape == (5, head.shape[1])
    np.testing.assert_array_equal(new.conv_stem.weight.asnumpy(), full.conv_stem.weight.asnumpy())


def test_wrong_file_for_its_tag_is_refused(mindcv_tag, monkeypatch):
    tag, _ = mindcv_tag
    _add_tag(monkeypatch, WeightTag("mobilenet_v1_025.bad", "mindcv", tag.file, url=tag.url, sha256="1" * 64))
    with pytest.raises(fetch.WeightsError, match="does not match"):
        resolve_pretrained("mobilenet_v1_025", "bad")
    assert not os.listdir(fetch.cache_path("downloads"))


def test_unknown_tag_and_tag_of_another_model():
    with pytest.raises(KeyError, match="ghostnet_100.in1k"):
        get_tag("ghostnet_100.in1")
    with pytest.raises(ValueError, match="are for ghostnet_100, not ghostnet_050"):
        resolve_pretrained("ghostnet_050", "ghostnet_100.in1k")


def _fill_hub_cache(cache: str, repo: str, filename: str, data: bytes) -> None:
    """The layout huggingface_hub reads offline: refs/main names a snapshot folder holding the file."""
    base = os.path.join(cache, "models--" + repo.replace("/", "--"))
    commit = "0" * 40
    os.makedirs(os.path.join(base, "refs"))
    open(os.path.join(base, "refs", "main"), "w").write(commit)
    os.makedirs(os.path.join(base, "snapshots", commit))
    open(os.path.join(base, "snapshots", commit, filename), "wb").write(data)


def test_hub_weights_from_an_offline_cache(tmp_path, monkeypatch):
    """timm's names (PyTorch BatchNorm) in model.safetensors, found in the hub cache with HF_HUB_OFFLINE=1."""
    from huggingface_hub import constants
    from safetensors.numpy import save
    net = create_model("ghostnet_050", num_classes=1000)
    torch_names = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
                   "moving_variance": "running_var"}
    state = {}
    for name, param in net.parameters_dict().items():
        prefix, _, leaf = name.rpartition(".")
        state[f"{prefix}.{torch_names.get(leaf, leaf)}"] = param.asnumpy()
    _fill_hub_cache(str(tmp_path / "hub"), "timm/ghostnet_050.test", "model.safetensors", save(state))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("GHOSTZOO_HOME", str(tmp_path / "home"))
    _add_tag(monkeypatch, WeightTag("ghostnet_050.test", "timm", "model.safetensors",
                                    hub_id="timm/ghostnet_050.test", interpolation="bicubic"))
    loaded = create_model("ghostnet_050", pretrained="ghostnet_050.test")
    np.testing.assert_array_equal(loaded.blocks[9][0].bn1.moving_mean.asnumpy(),
                                  net.blocks[9][0].bn1.moving_mean.asnumpy())
    assert loaded.pretrained_record.preprocessing.interpolation == "bicubic"
    # not in the cache and offline: one line naming the hub file and what to do
    _add_tag(monkeypatch, WeightTag("ghostnet_050.absent", "timm", "model.safetensors",
                                    hub_id="timm/ghostnet_050.absent"))
    with pytest.raises(fetch.WeightsError) as e:
        resolve_pretrained("ghostnet_050", "absent")
    assert "\n" not in str(e.value) and "timm/ghostnet_050.absent" in str(e.value)
