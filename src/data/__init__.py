"""Data sets: ImageNet-style folders, CIFAR-10 binary, the synthetic quickstart set, transforms, sharding."""
from .folders import resolve_cifar10, resolve_image_folder, scan_image_folder
from .loader import (Augmentation, DataSource, Loader, augmentation_seed, check_class_count, create_dataset,
                     create_loader, create_split_loader, open_split, pipeline_errors, resolve_data_path)
from .synthetic import ensure_synthetic_dataset
from .transforms import create_transforms

__all__ = ["Augmentation", "DataSource", "Loader", "create_split_loader", "augmentation_seed", "check_class_count",
           "create_dataset", "create_loader",
           "create_transforms", "ensure_synthetic_dataset", "open_split", "pipeline_errors", "resolve_cifar10",
           "resolve_data_path", "resolve_image_folder", "scan_image_folder"]
