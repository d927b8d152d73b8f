"""The reference train / eval transforms for ImageNet-style folders and CIFAR-10 (model zoo pipelines)."""
from typing import List, Sequence

from mindspore.dataset import transforms, vision

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)


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


def random_erasing_ops(prob: float) -> List:
    """Erase a random rectangle (area 2-33%) of the normalised CHW image with zeros, with probability `prob`."""
    return [vision.RandomErasing(prob=prob)] if prob > 0 else []


def folder_train_transforms(image_size: int, mean, std, min_scale: float = 0.08, color_jitter: float = 0.0,
                            hflip: float = 0.5, augment: Sequence = (), erasing: Sequence = (),
                            ratio: Sequence[float] = (3 / 4, 4 / 3)) -> List:
    """Decode + random resized crop, flip, optional colour jitter and auto-augment, normalise, CHW, erasing."""
    ops = [vision.RandomCropDecodeResize(image_size, scale=(min_scale, 1.0), ratio=tuple(ratio))]
    if hflip > 0:
        ops.append(vision.RandomHorizontalFlip(prob=hflip))
    if color_jitter > 0:
        ops.append(vision.RandomColorAdjust(brightness=color_jitter, contrast=color_jitter,
                                            saturation=color_jitter))
    return ops + list(augment) + _normalize(mean, std) + list(erasing)


def folder_eval_transforms(image_size: int, resize_size: int, mean, std) -> List:
    """Decode, resize the short side to `resize_size`, centre crop `image_size`, normalise, CHW."""
    return [vision.Decode(), vision.Resize(resize_size), vision.CenterCrop(image_size)] + _normalize(mean, std)


def cifar_train_transforms(image_size: int, mean, std, hflip: float = 0.5, augment: Sequence = (),
                           erasing: Sequence = ()) -> List:
    """Random crop 32 with 4-pixel padding, flip, optional auto-augment and resize (e.g. to 224 as the model zoo
    did), normalise, CHW, erasing."""
    ops = [vision.RandomCrop((32, 32), (4, 4, 4, 4))]
    if hflip > 0:
        ops.append(vision.RandomHorizontalFlip(prob=hflip))
    ops += list(augment)
    if image_size != 32:
        ops.append(vision.Resize((image_size, image_size)))
    return ops + _normalize(mean, std) + list(erasing)


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
