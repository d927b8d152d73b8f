"""Data sets: ImageNet-style folders, CIFAR-10 binary, the synthetic quickstart set, transforms, sharding."""
from .folders import resolve_cifar10, resolve_image_folder, scan_image_folder
from .pipeline import DatasetInfo, create_dataset, pipeline_errors, prepare_data_path
from .synthetic import ensure_synthetic_dataset

__all__ = ["DatasetInfo", "create_dataset", "pipeline_errors", "prepare_data_path", "resolve_cifar10",
           "resolve_image_folder", "scan_image_folder", "ensure_synthetic_dataset"]
