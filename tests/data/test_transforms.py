"""Augmentations (src/data/transforms.py) in the real pipeline: mixup and cutmix give soft targets, AutoAugment,
RandAugment and random erasing change the images, CIFAR-10 takes them too."""
import numpy as np

from tests.support import make_loader


def _first_batch(root, split="train", **kwargs):
    info = make_loader(root, split, **kwargs)
    return next(info.dataset.create_tuple_iterator(num_epochs=1, output_numpy=True))


def test_mixup_and_cutmix_give_soft_targets(image_folder):
    base = dict(num_classes=5, batch_size=8, seed=3)
    _, plain = _first_batch(image_folder, **base)
    assert plain.shape == (8,) and plain.max() < 3
    for extra in (dict(mixup=1.0), dict(cutmix=1.0), dict(mixup=0.5, cutmix=1.0)):
        images, soft = _first_batch(image_folder, **base, **extra)
        assert soft.shape == (8, 5) and soft.dtype == np.float32
        np.testing.assert_allclose(soft.sum(1), 1.0, rtol=1e-5)
        assert soft[:, 3:].max() == 0                     # only the 3 real classes get mass
        assert ((soft > 0) & (soft < 1)).any()            # some rows mix two images
    _, half = _first_batch(image_folder, **base, cutmix=1.0, mix_prob=0.0)
    assert set(np.unique(half)) <= {0.0, 1.0}             # mix_prob 0: one-hot targets, nothing mixed


def test_auto_augment_and_random_erasing_change_the_images(image_folder):
    base = dict(seed=3, hflip=0, min_scale=1.0)
    reference, _ = _first_batch(image_folder, **base)
    for extra in (dict(auto_augment="randaugment", randaug_magnitude=15), dict(auto_augment="autoaugment"),
                  dict(random_erasing=1.0)):
        images, _ = _first_batch(image_folder, **base, **extra)
        assert images.shape == reference.shape and np.isfinite(images).all()
        assert not np.allclose(images, reference), extra
    erased, _ = _first_batch(image_folder, **base, random_erasing=1.0)
    assert ((erased == 0).all(axis=1).sum(axis=(1, 2)) > 0).all()  # every image has an erased (zero) patch


def test_cifar_augmentations(cifar_root):
    images, labels = _first_batch(cifar_root, dataset="cifar10", num_classes=10, batch_size=8,
                                  auto_augment="autoaugment", random_erasing=0.5, cutmix=1.0)
    assert images.shape == (8, 3, 32, 32) and labels.shape == (8, 10)
