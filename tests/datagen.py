"""Writers of small data sets in the real on-disk formats (JPEG class folders, CIFAR-10 binary batches)."""
import os

import numpy as np
from PIL import Image


def write_image_folder(root: str, rng, classes: int = 3, per_class: int = 4, size: int = 40) -> str:
    for c in range(classes):
        folder = os.path.join(root, f"class_{c}")
        os.makedirs(folder, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(os.path.join(folder, f"img_{i}.jpg"))
    return root


def cifar_records(rng, count: int):
    """(labels, images HWC uint8, raw bytes) for `count` CIFAR-10 records."""
    labels = rng.integers(0, 10, count).astype(np.uint8)
    images = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    chw = images.transpose(0, 3, 1, 2).reshape(count, -1)  # R plane, then G, then B
    raw = np.concatenate([labels[:, None], chw], axis=1).astype(np.uint8).tobytes()
    return labels, images, raw


def write_cifar10_bin(root: str, rng, train_records: int = 16, test_records: int = 21) -> str:
    os.makedirs(root, exist_ok=True)
    for i in range(1, 6):
        _, _, raw = cifar_records(rng, train_records)
        with open(os.path.join(root, f"data_batch_{i}.bin"), "wb") as f:
            f.write(raw)
    _, _, raw = cifar_records(rng, test_records)
    with open(os.path.join(root, "test_batch.bin"), "wb") as f:
        f.write(raw)
    with open(os.path.join(root, "batches.meta.txt"), "w") as f:
        f.write("\n".join(["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                           "truck"]) + "\n")
    return root


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The quickstart recipe (ghostnet_050 at 48x48) on the 4-class generated folder of the `synthetic_root` fixture,
# without its prediction grid (the tests that want one ask for it).
TINY = ["--config", os.path.join(ROOT, "configs", "quickstart.yaml"), "--num_classes", "4", "--dataset", "imagenet",
        "--log_interval", "0", "--image_check", "decode", "--prediction_grid", "0"]
