"""Data sets: ImageNet-style folders, CIFAR-10 binary, the synthetic quickstart set, transforms, sharding."""
from .folders import resolve_cifar10, resolve_image_folder, scan_image_folder
from .loader import (DataSource, Loader, augmentation_seed, check_class_count, create_dataset,
                     create_loader, create_split_loader, detect_dataset, open_split, pipeline_errors,
                     resolve_data_path, resolve_dataset)
from .synthetic import ensure_synthetic_dataset
from .transforms import AUGMENTATION_KEYS, Augmentation, create_transforms

__all__ = ["AUGMENTATION_KEYS", "Augmentation", "DataSource", "Loader", "augmentation_seed", "check_class_count",
           "create_dataset", "create_loader", "create_split_loader", "create_transforms", "detect_dataset",
           "ensure_synthetic_dataset", "open_split", "pipeline_errors", "resolve_cifar10", "resolve_data_path",
           "resolve_dataset", "resolve_image_folder", "scan_image_folder"]
