"""Images/s of the input pipelines over a folder of JPEGs: ours (create_split_loader, MindSpore's C++ decode and
augmentation) and, as the reference, timm's (Pillow + torchvision transforms in PyTorch DataLoader workers).

Training: decode + random resized crop + flip + normalise (the default augmentation of a recipe); evaluation:
decode + resize of the short side + centre crop + normalise. The first batch (pipeline start-up) is timed apart.
"""
import os
import time
from typing import Dict, Iterable

from .timing import peak_rss_mb

SPLITS = ("train", "val")


def generate_images(root: str, image_size: int, per_class: int, num_classes: int = 8, seed: int = 0) -> str:
    """A folder of `num_classes` x `per_class` JPEGs of image_size x image_size in train/ and val/ (the synthetic
    quickstart set, src/data/synthetic.py)."""
    from ..data.synthetic import ensure_synthetic_dataset
    return ensure_synthetic_dataset(root, num_classes=num_classes, image_size=image_size, train_per_class=per_class,
                                    val_per_class=per_class, seed=seed)


def _consume(batches: Iterable, batch_size_of) -> Dict:
    start = time.perf_counter()
    first, images, count = None, 0, 0
    for batch in batches:
        count += 1
        if first is None:
            first = time.perf_counter() - start
            start = time.perf_counter()
            continue
        images += batch_size_of(batch)
    elapsed = time.perf_counter() - start
    if count < 2:
        raise ValueError("the split gives fewer than two batches; the pipeline needs more images (or a smaller "
                         "--batch_size) to be timed")
    return {"img_s": images / elapsed, "ms_step": 1000 * elapsed / (count - 1), "first_step_s": first,
            "iters": count - 1, "images": images}


def bench_ours(data_path: str, split: str, model: str, batch_size: int, image_size: int, num_workers: int) -> Dict:
    """Our pipeline (the one train.py / eval.py build) for `split` with the model's preprocessing at image_size."""
    from ..data import Augmentation, create_split_loader, open_split, pipeline_errors
    from ..data.preprocessing import resolve_preprocessing
    from ..models import get_default_cfg
    training = split == "train"
    source = open_split(data_path, split, "folder", "none", training=training)
    if source is None:
        raise FileNotFoundError(f"'{data_path}' has no {split}/ split")
    preprocessing = resolve_preprocessing(get_default_cfg(model), {"image_size": image_size})
    loader = create_split_loader(source, preprocessing, training=training, batch_size=batch_size,
                                 augmentation=Augmentation(), num_classes=source.num_classes,
                                 num_parallel_workers=num_workers)
    with pipeline_errors():
        result = _consume(loader.dataset.create_tuple_iterator(num_epochs=1, output_numpy=True),
                          lambda batch: len(batch[0]))
    return dict(result, peak_rss_mb=peak_rss_mb(), workers=num_workers, compile_s=None, device_mem_mb=None,
                device="CPU")


def bench_reference(data_path: str, split: str, batch_size: int, image_size: int, num_workers: int,
                    crop_pct: float = 0.875) -> Dict:
    """timm's pipeline (timm.data.create_dataset + create_loader, no prefetcher: normalisation in the workers;
    `crop_pct` the evaluation crop over the resized short side, ours from the model's default config)."""
    from ..timm_reference import import_timm
    import_timm()  # a clear error when timm is missing
    from timm.data import create_dataset, create_loader
    root = os.path.join(data_path, split)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"'{data_path}' has no {split}/ split")
    dataset = create_dataset("", root=root)
    loader = create_loader(dataset, input_size=(3, image_size, image_size), batch_size=batch_size,
                           is_training=split == "train", use_prefetcher=False, num_workers=num_workers,
                           interpolation="bilinear", crop_pct=crop_pct, persistent_workers=False)
    result = _consume(loader, lambda batch: len(batch[0]))
    return dict(result, peak_rss_mb=peak_rss_mb(), workers=num_workers, compile_s=None, device_mem_mb=None,
                device="CPU")
