"""The train / eval transforms for ImageNet-style folders and CIFAR-10 (the model zoo's pipelines), built by
`create_transforms` from explicit values: a model's default config or a checkpoint's record supplies the input
size, eval resize, interpolation, mean and std; a recipe supplies the augmentation."""
import math
from dataclasses import dataclass, fields
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mindspore.dataset import transforms, vision



INTERPOLATION = {"bilinear": vision.Inter.BILINEAR, "bicubic": vision.Inter.BICUBIC,
                 "nearest": vision.Inter.NEAREST, "area": vision.Inter.AREA}
KINDS = ("folder", "cifar10")


def _normalize(mean: Sequence[float], std: Sequence[float]) -> List:
    # Normalize works on uint8 HWC images, so mean and std are scaled to 0..255.
    return [vision.Normalize(mean=[m * 255 for m in mean], std=[s * 255 for s in std]), vision.HWC2CHW()]


def auto_augment_ops(name: str, num_ops: int = 2, magnitude: int = 9, cifar: bool = False) -> List:
    """RandAugment (num_ops, magnitude) or AutoAugment (ImageNet or CIFAR-10 policy) on uint8 HWC images."""
    if name == "none":
        return []
    if name == "randaugment":
        return [vision.RandAugment(num_ops=num_ops, magnitude=magnitude)]
    if name == "autoaugment":
        policy = vision.AutoAugmentPolicy.CIFAR10 if cifar else vision.AutoAugmentPolicy.IMAGENET
        return [vision.AutoAugment(policy=policy)]
    raise ValueError(f"unknown auto_augment '{name}'; expected none, randaugment or autoaugment")


class RandomErasingBatch:
    """Random erasing on a batch of normalised CHW images, as a `batch(per_batch_map=...)` function.

    Each image, with probability `prob`, gets a random rectangle of 2-33% of its area and aspect ratio 0.3-3.3
    set to zero (torchvision's RandomErasing; up to 10 tries to fit it). The draws come from a generator seeded
    by (seed, epoch, batch index), never from a shared stream: MindSpore's own RandomErasing draws from Python's
    global `random` in whichever worker thread runs first, which no seed makes repeatable, and a resumed run must
    erase exactly what the uninterrupted run did.
    """

    def __init__(self, prob: float, seed: int, first_epoch: int = 0, scale=(0.02, 0.33), ratio=(0.3, 3.3)):
        self.prob = prob
        self.seed = seed
        self.first_epoch = first_epoch
        self.scale = scale
        self.log_ratio = (math.log(ratio[0]), math.log(ratio[1]))

    def __call__(self, images, batch_info):
        epoch = self.first_epoch + batch_info.get_epoch_num()
        rng = np.random.default_rng([self.seed, epoch, batch_info.get_batch_num()])
        batch = np.stack(images)
        for image in batch:
            if rng.random() >= self.prob:
                continue
            _, height, width = image.shape
            for _ in range(10):
                area = height * width * rng.uniform(*self.scale)
                aspect = math.exp(rng.uniform(*self.log_ratio))
                h, w = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
                if h < height and w < width:
                    top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
                    image[:, top:top + h, left:left + w] = 0
                    break
        return (batch,)


def folder_train_transforms(image_size: int, mean, std, min_scale: float = 0.08, color_jitter: float = 0.0,
                            hflip: float = 0.5, augment: Sequence = (),
                            ratio: Sequence[float] = (3 / 4, 4 / 3), interpolation: str = "bilinear") -> List:
    """Decode + random resized crop, flip, optional colour jitter and auto-augment, normalise, CHW (random erasing
    follows per batch: RandomErasingBatch)."""
    ops = [vision.RandomCropDecodeResize(image_size, scale=(min_scale, 1.0), ratio=tuple(ratio),
                                         interpolation=INTERPOLATION[interpolation])]
    if hflip > 0:
        ops.append(vision.RandomHorizontalFlip(prob=hflip))
    if color_jitter > 0:
        ops.append(vision.RandomColorAdjust(brightness=color_jitter, contrast=color_jitter,
                                            saturation=color_jitter))
    return ops + list(augment) + _normalize(mean, std)


def folder_eval_transforms(image_size: int, resize_size: int, mean, std, interpolation: str = "bilinear") -> List:
    """Decode, resize the short side to `resize_size`, centre crop `image_size`, normalise, CHW."""
    return ([vision.Decode(), vision.Resize(resize_size, INTERPOLATION[interpolation]),
             vision.CenterCrop(image_size)] + _normalize(mean, std))


def cifar_train_transforms(image_size: int, mean, std, hflip: float = 0.5, augment: Sequence = ()) -> List:
    """Random crop 32 with 4-pixel padding, flip, optional auto-augment and resize (e.g. to 224 as the model zoo
    did), normalise, CHW."""
    ops = [vision.RandomCrop((32, 32), (4, 4, 4, 4))]
    if hflip > 0:
        ops.append(vision.RandomHorizontalFlip(prob=hflip))
    ops += list(augment)
    if image_size != 32:
        ops.append(vision.Resize((image_size, image_size)))
    return ops + _normalize(mean, std)


def batch_mix_ops(num_classes: int, mixup: float, cutmix: float, prob: float) -> List:
    """Per-batch mixup / cutmix on (image NCHW, int label) columns; labels become soft (N, num_classes) targets."""
    if mixup <= 0 and cutmix <= 0:
        return []
    mixers = []
    if mixup > 0:
        mixers.append(vision.MixUpBatch(alpha=mixup))
    if cutmix > 0:
        mixers.append(vision.CutMixBatch(vision.ImageBatchFormat.NCHW, alpha=cutmix))
    mixer = mixers[0] if len(mixers) == 1 else transforms.RandomChoice(mixers)
    if prob < 1:
        mixer = transforms.RandomApply([mixer], prob=prob)
    return [mixer]


def cifar_eval_transforms(image_size: int, mean, std) -> List:
    ops = [vision.Resize((image_size, image_size))] if image_size != 32 else []
    return ops + _normalize(mean, std)


@dataclass(frozen=True)
class Augmentation:
    """The training augmentation of a recipe (evaluation uses none); the fields are the recipe's key names."""
    min_scale: float = 0.08
    crop_ratio: Optional[Sequence[float]] = None      # None: (3/4, 4/3)
    hflip: float = 0.5
    color_jitter: float = 0.0
    auto_augment: str = "none"
    randaug_num_ops: int = 2
    randaug_magnitude: int = 9
    random_erasing: float = 0.0
    mixup: float = 0.0
    cutmix: float = 0.0
    mix_prob: float = 1.0

    @property
    def aspect_ratios(self) -> Tuple[float, float]:
        return tuple(self.crop_ratio) if self.crop_ratio else (3 / 4, 4 / 3)


AUGMENTATION_KEYS = tuple(f.name for f in fields(Augmentation))


def create_transforms(kind: str, training: bool, preprocessing,
                      augmentation: Optional[Augmentation] = None) -> List:
    """The per-image operations of a split: `kind` "folder" (encoded image files) or "cifar10" (32x32 arrays), with
    a `preprocessing` (data.preprocessing.Preprocessing) and, for training, an `augmentation`.

    Evaluation of folders resizes the short side to the eval resize and centre-crops the image size."""
    if kind not in KINDS:
        raise ValueError(f"unknown data kind '{kind}'; expected one of {', '.join(KINDS)}")
    p, aug = preprocessing, augmentation or Augmentation()
    if p.interpolation not in INTERPOLATION:
        raise ValueError(f"unknown interpolation '{p.interpolation}'; expected one of {', '.join(INTERPOLATION)}")
    augment = auto_augment_ops(aug.auto_augment, aug.randaug_num_ops, aug.randaug_magnitude, cifar=kind == "cifar10")
    if kind == "cifar10":
        return (cifar_train_transforms(p.image_size, p.mean, p.std, aug.hflip, augment) if training
                else cifar_eval_transforms(p.image_size, p.mean, p.std))
    if training:
        return folder_train_transforms(p.image_size, p.mean, p.std, aug.min_scale, aug.color_jitter, aug.hflip,
                                       augment, aug.aspect_ratios, p.interpolation)
    return folder_eval_transforms(p.image_size, p.eval_resize or p.image_size, p.mean, p.std, p.interpolation)
