"""From a file to a ready network: the one path eval, export, predict, check_export and the benchmark share.

`open_model(path)` reads a checkpoint (ours with its record, or a record-less one recognised by its parameter
names, foreign names converted), builds the network, loads the weights and turns it into its deployed form
(re-parameterised and BatchNorm-folded, each switchable). The network comes back with what a caller needs to
use it attached, as timm attaches `pretrained_cfg`: `preprocessing`, `record`, `class_names`, `opened` (where the
model was found) and `deployed` (what was folded).
"""
from typing import List, Mapping, Optional, Sequence

from .data.preprocessing import Preprocessing, resolve_preprocessing
from .engine.checkpoint import OpenedCheckpoint, load_opened, open_checkpoint
from .models import create_model, deploy_form, get_default_cfg
from .runtime import LOG


def class_names(classes: Optional[Sequence[str]], num_classes: int) -> List[str]:
    """The recorded class names (ImageNet synsets as their names), ImageNet's names for a record-less 1000- or
    1001-output head, or the class indices as names (padded with indices to `num_classes`)."""
    from .weights.classes import readable_classes
    names = [str(c) for c in (readable_classes(classes, num_classes) or classes or [])][:num_classes]
    return names + [str(i) for i in range(len(names), num_classes)]


def resolve_opened_preprocessing(opened: OpenedCheckpoint, overrides: Optional[Mapping] = None,
                                 recipe: Optional[Mapping] = None, dataset: Optional[str] = None) -> Preprocessing:
    """The preprocessing of an opened checkpoint: `overrides` (e.g. the command line), then what it records, then
    `recipe`, then the data set's and the model's defaults."""
    record = opened.record
    if dataset is None:
        dataset = record.dataset if record and record.dataset else "imagenet"
    return resolve_preprocessing(get_default_cfg(opened.model), overrides,
                                 record.preprocessing.to_dict() if record else None, recipe, dataset=dataset)


def ready_network(opened: OpenedCheckpoint, preprocessing: Preprocessing, reparameterize: bool = True,
                  fold_bn: bool = True, drop_rate: float = 0.0):
    """The network of an opened checkpoint with its weights, in deployed form (see `open_model`)."""
    net = create_model(opened.model, num_classes=opened.num_classes, drop_rate=drop_rate,
                       image_size=preprocessing.image_size, **opened.model_kwargs)
    load_opened(net, opened)
    net.deployed = deploy_form(net, reparameterize=reparameterize, fold_bn=fold_bn)
    net.preprocessing = preprocessing
    net.record = opened.record
    net.class_names = class_names(opened.record.classes if opened.record else None, opened.num_classes)
    net.opened = opened
    return net


def open_model(path: str, model: Optional[str] = None, num_classes: Optional[int] = None,
               preprocessing: Optional[Mapping] = None, recipe: Optional[Mapping] = None,
               dataset: Optional[str] = None, reparameterize: bool = True, fold_bn: bool = True):
    """The network a checkpoint holds, ready for inference.

    `model` and `num_classes` override what the file says (a `model` that contradicts its record is an error);
    `preprocessing` holds overriding preprocessing values, `recipe` lower-precedence ones. By default the network
    is re-parameterised (GhostNetV3, RepGhost) and its BatchNorms are folded, the form every inference path runs;
    `reparameterize=False` / `fold_bn=False` keep either. The returned network carries `preprocessing`, `record`
    (None for a record-less file), `class_names`, `opened` and `deployed`."""
    opened = open_checkpoint(path, model, num_classes)
    return ready_network(opened, resolve_opened_preprocessing(opened, preprocessing, recipe, dataset),
                         reparameterize=reparameterize, fold_bn=fold_bn)


def log_deployed(net, log=LOG.info) -> None:
    """Say what turning the network into its deployed form did (nothing is said of a step that changed nothing)."""
    if net.deployed["reparameterized"]:
        log(f"re-parameterised {net.opened.model}: training-time branches folded into single convolutions "
            f"(--reparam false keeps them)")
    if net.deployed["bn_folded"]:
        log(f"{net.deployed['bn_folded']} BatchNorms folded into their convolutions for inference (same outputs)")
    if net.deployed.get("gates_folded"):
        log(f"{net.deployed['gates_folded']} squeeze-excite hard sigmoids folded into their convolutions (same "
            f"outputs)")
