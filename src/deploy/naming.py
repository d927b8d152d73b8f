"""The image list and result-file naming of the inference harness.

The Ascend 310 harness (ascend310_infer/), the Python reference runner (`python -m src.tools.infer_mindir`),
the label builder (create_imagenet2012_label.py) and postprocess.py all name an image by `result_key`: its path
relative to the data root without the extension, with "/" replaced by "__" (a flat folder gives the plain stem, as
the model zoo did; class sub-folders keep images with the same stem apart). The logits of an image go to
`result_Files/<key>_0.bin` as raw float32.
"""
import os
from typing import Dict, List

from ..data.folders import is_image_name
from ..errors import DataError

RESULT_SUFFIX = "_0.bin"
KEY_SEPARATOR = "__"


def list_images(root: str) -> List[str]:
    """Every image file under `root` (recursively), sorted by relative path."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"image folder '{root}' does not exist")
    found = []
    for dirpath, dirnames, files in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [os.path.join(dirpath, f) for f in files if is_image_name(f)]
    if not found:
        raise DataError(f"no images found under '{root}'")
    return sorted(found, key=lambda p: os.path.relpath(p, root).split(os.sep))


def result_key(root: str, path: str) -> str:
    """The harness's name for the image `path` under `root`."""
    rel = os.path.relpath(path, root)
    stem = os.path.splitext(rel)[0]
    return stem.replace(os.sep, KEY_SEPARATOR)


def result_keys(root: str, paths: List[str]) -> Dict[str, str]:
    """{key: path}; two images with one key (e.g. `a__b/c.jpg` and `a/b__c.jpg`) are an error."""
    keys: Dict[str, str] = {}
    for path in paths:
        key = result_key(root, path)
        if key in keys:
            raise DataError(f"images '{keys[key]}' and '{path}' would both be written as '{key}{RESULT_SUFFIX}'; "
                            f"rename one of them")
        keys[key] = path
    return keys
