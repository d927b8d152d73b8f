"""From a tag or a path to weights loaded in a network: `resolve_pretrained` gives a local checkpoint of ours (with
its record: model, classes, class names, preprocessing, source), fetching and converting once per tag;
`create_pretrained` builds the network and loads it (another class count gets a new head, as fine-tuning does)."""
import os
from typing import Optional, Union

import mindspore as ms

from ..data.preprocessing import resolve_preprocessing
from ..engine.checkpoint import init_from_checkpoint, load_opened, open_checkpoint
from ..engine.record import ModelRecord
from ..models import check_model_name, convert_state_dict, create_model, get_default_cfg
from ..models.convert import head_size
from ..runtime import LOG
from .classes import label_set_classes
from .fetch import WeightsError, cache_path, download, file_lock, hub_download, sha256_of
from .tags import WeightTag, default_tag, get_tag

Pretrained = Union[bool, str, None]
FOREIGN_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")


def is_path(value: str) -> bool:
    """Whether `--pretrained VALUE` names a file rather than a tag."""
    return os.sep in value or value.lower().endswith((".ckpt",) + FOREIGN_SUFFIXES) or os.path.exists(value)


def resolve_pretrained(model: str, pretrained: Pretrained = True) -> str:
    """The local checkpoint of ours that `pretrained` names for `model`: True for the model's default tag, a tag
    (`ghostnet_100.mindcv`, or `mindcv` alone), or a path (a .ckpt is used as it is: ours, the model zoo's and
    MindCV's are recognised when opened; timm's .safetensors / .pth are converted once into the cache)."""
    check_model_name(model)
    if pretrained is True or pretrained in (None, "", "true", "True"):
        tag = default_tag(model)
    elif isinstance(pretrained, str) and is_path(pretrained):
        return _local(model, pretrained)
    elif isinstance(pretrained, str):
        tag = get_tag(pretrained, model)
    else:
        raise ValueError(f"pretrained must be True, a tag or a path, got {pretrained!r}")
    converted = cache_path("converted", f"{tag.name}.ckpt")
    if os.path.isfile(converted):
        return converted
    with file_lock(f"{tag.name}.ckpt"):
        if not os.path.isfile(converted):  # another process may have made it while this one waited
            _convert(tag, fetch(tag), converted)
    return converted


def fetch(tag: WeightTag) -> str:
    """The published file of `tag`, downloaded and verified (or found in the cache)."""
    if tag.hub_id:
        return hub_download(tag.hub_id, tag.file)
    return download(tag.url, cache_path("downloads", tag.file), tag.sha256, tag.sha256_prefix)


def tag_record(tag: WeightTag, num_classes: int) -> ModelRecord:
    """Our record of converted weights: the tag's preprocessing and label set, and where they came from."""
    preprocessing = resolve_preprocessing(get_default_cfg(tag.model), tag.preprocessing())
    classes = label_set_classes(tag.label_set) if num_classes == tag.num_classes else None
    return ModelRecord(tag.model, num_classes, preprocessing, classes=classes, dataset="imagenet",
                       source=f"{tag.name} ({tag.location})", model_kwargs=dict(tag.model_kwargs))


def _convert(tag: WeightTag, raw: str, out: str) -> None:
    """Convert the source file into our checkpoint at `out` (written under a temporary name, then renamed)."""
    from ..tools.convert_weights import load_source
    params = convert_state_dict(tag.source, tag.model, load_source(raw))
    num_classes = head_size(params, get_default_cfg(tag.model).classifier)
    if num_classes != tag.num_classes:
        raise WeightsError(f"{raw} has a {num_classes}-class head, but {tag.name} publishes {tag.num_classes} "
                           f"classes: not the file its tag names")
    _write(params, tag_record(tag, num_classes), out)
    LOG.info(f"converted {tag.name} ({os.path.basename(raw)}) into {out}")


def _write(params, record: ModelRecord, out: str) -> None:
    """Our checkpoint at `out`, written under a temporary name and renamed into place."""
    from ..tools.convert_weights import save
    part = f"{out}.part{os.getpid()}.ckpt"
    try:
        save(params, part, record)
        os.replace(part, out)
    except OSError as e:
        raise WeightsError(f"cannot write the converted weights {out}: {e.strerror or e}") from None
    finally:
        if os.path.exists(part):
            os.remove(part)


def _local(model: str, path: str) -> str:
    """A local weights file: a .ckpt as it is; timm's .safetensors / .pth converted once into the cache (keyed by
    the file's hash)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"pretrained weights '{path}' do not exist")
    if not path.lower().endswith(FOREIGN_SUFFIXES):
        return path
    from ..tools.convert_weights import converted_record, load_source
    out = cache_path("converted", f"{model}.local-{sha256_of(path)[:16]}.ckpt")
    if os.path.isfile(out):
        return out
    with file_lock(os.path.basename(out)):
        if not os.path.isfile(out):
            params = convert_state_dict("timm", model, load_source(path))
            num_classes = head_size(params, get_default_cfg(model).classifier)
            _write(params, converted_record("timm", model, num_classes, path), out)
    return out


def create_pretrained(name: str, pretrained: Pretrained = True, checkpoint_path: str = "",
                      num_classes: Optional[int] = None, **kwargs):
    """`create_model(name, pretrained=..., checkpoint_path=...)`: the network with the weights loaded. Without
    `num_classes` it has the weights' head; with another count, every other weight is loaded and the head is new
    (a 1001-output head of ImageNet-1k+1 weights is cut to its first 1000 rows for 1000 classes, as MindCV does)."""
    path = resolve_pretrained(name, checkpoint_path or pretrained)
    opened = open_checkpoint(path)
    if opened.model != name:
        raise ValueError(f"'{path}' holds a {opened.model} ({opened.how}), not a {name}")
    kwargs = {**opened.model_kwargs, **kwargs}
    net = create_model(name, num_classes=num_classes or opened.num_classes, **kwargs)
    classifier = get_default_cfg(name).classifier
    if net.num_classes == 1000 and opened.num_classes == 1001:
        for leaf in ("weight", "bias"):
            key = f"{classifier}.{leaf}"
            opened.params[key] = ms.Parameter(ms.Tensor(opened.params[key].asnumpy()[:1000]), name=key)
        opened.num_classes = 1000
    if net.num_classes == opened.num_classes:
        load_opened(net, opened)
    else:
        init_from_checkpoint(net, path, name)
    net.pretrained_record = opened.record
    return net
