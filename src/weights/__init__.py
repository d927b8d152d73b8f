"""Published weights by tag (`ghostnet_100.in1k`, `ghostnet_100.mindcv`, ...): the table, the cache, the download
and conversion into our checkpoints, and the ImageNet class names."""
from .classes import imagenet_classes, label_set_classes
from .fetch import WeightsError, home
from .tags import TAGS, WeightTag, default_tag, get_tag, list_pretrained


def resolve_pretrained(model, pretrained=True):
    """See resolve.resolve_pretrained (imported on first use: it needs MindSpore)."""
    from .resolve import resolve_pretrained as resolve
    return resolve(model, pretrained)


def create_pretrained(name, pretrained=True, checkpoint_path="", num_classes=None, **kwargs):
    from .resolve import create_pretrained as create
    return create(name, pretrained, checkpoint_path, num_classes, **kwargs)


__all__ = ["TAGS", "WeightTag", "WeightsError", "create_pretrained", "default_tag", "get_tag", "home",
           "imagenet_classes", "label_set_classes", "list_pretrained", "resolve_pretrained"]
