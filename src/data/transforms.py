"""The reference train / eval transforms for ImageNet-style folders and CIFAR-10 (model zoo pipelines)."""
from typing import List, Sequence

from mindspore.dataset import vision

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)


def _normalize(mean: Sequence[float], std: Sequence[float]) -> List:
    # Normalize works on uint8 HWC images, so mean and std are scaled to 0..255.
    return [vision.Normalize(mean=[m * 255 for m in mean], std=[s * 255 for s in std]), vision.HWC2CHW()]


def folder_train_transforms(image_size: int, mean, std, min_scale: float = 0.08,
                            color_jitter: float = 0.0, hflip: float = 0.5) -> List:
    """Decode + random resized crop, horizontal flip, optional colour jitter, normalise, CHW."""
    ops = [vision.RandomCropDecodeResize(image_size, scale=(min_scale, 1.0), ratio=(3 / 4, 4 / 3))]
    if hflip > 0:
        ops.append(vision.RandomHorizontalFlip(prob=hflip))
    if color_jitter > 0:
        ops.append(vision.RandomColorAdjust(brightness=color_jitter, contrast=color_jitter,
                                            saturation=color_jitter))
    return ops + _normalize(mean, std)


def folder_eval_transforms(image_size: int, resize_size: int, mean, std) -> List:
    """Decode, resize the short side to `resize_size`, centre crop `image_size`, normalise, CHW."""
    return [vision.Decode(), vision.Resize(resize_size), vision.CenterCrop(image_size)] + _normalize(mean, std)


def cifar_train_transforms(image_size: int, mean, std, hflip: float = 0.5) -> List:
    """Random crop 32 with 4-pixel padding, flip, optional resize (e.g. to 224 as the model zoo did)."""
    ops = [vision.RandomCrop((32, 32), (4, 4, 4, 4))]
    if hflip > 0:
        ops.append(vision.RandomHorizontalFlip(prob=hflip))
    if image_size != 32:
        ops.append(vision.Resize((image_size, image_size)))
    return ops + _normalize(mean, std)


def cifar_eval_transforms(image_size: int, mean, std) -> List:
    ops = [vision.Resize((image_size, image_size))] if image_size != 32 else []
    return ops + _normalize(mean, std)
