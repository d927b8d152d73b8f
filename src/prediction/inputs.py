"""The inputs of a prediction: image files found from paths, folders (searched recursively) and glob patterns,
read and put through the evaluation preprocessing of eval.py; the true class where a folder names one."""
import glob
import os
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from ..data.folders import check_image_file, is_image_name
from ..data.image_check import IMAGE_EXTENSIONS
from ..data.preprocessing import Preprocessing
from ..errors import DataError

_GLOB_CHARS = set("*?[")


# ----------------------------------------------------------------------------------------------------- inputs
def _images_under(folder: str) -> List[str]:
    found = []
    for directory, subdirs, names in os.walk(folder):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        found += [os.path.join(directory, n) for n in sorted(names) if is_image_name(n)]
    return found


def collect_images(inputs: Sequence[str]) -> List[str]:
    """The image files named by `inputs`: files as given, folders searched recursively, glob patterns (`**`
    allowed) expanded; each image once, in the given order. A folder or pattern with no image, or a path that
    does not exist, is an error naming it."""
    if not inputs:
        raise ValueError("no images given: pass image files, folders or glob patterns")
    seen, images = set(), []
    for given in inputs:
        if os.path.isdir(given):
            found = _images_under(given)
            if not found:
                raise DataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in the folder '{given}' or below it")
        elif os.path.isfile(given):
            found = [given]
        elif _GLOB_CHARS & set(given):
            matches = sorted(glob.glob(given, recursive=True))
            found = []
            for match in matches:
                found += _images_under(match) if os.path.isdir(match) else ([match] if is_image_name(match) else [])
            if not found:
                what = f"{len(matches)} path(s), none an image" if matches else "nothing"
                raise DataError(f"the pattern '{given}' matches {what}; expected image files "
                                f"({', '.join(IMAGE_EXTENSIONS)})")
        else:
            raise FileNotFoundError(f"'{given}' does not exist (expected an image file, a folder or a glob pattern)")
        for path in found:
            key = os.path.abspath(path)
            if key not in seen:
                seen.add(key)
                images.append(path)
    return images


def true_class(path: str, classes: Sequence[str]) -> Optional[int]:
    """The class the image's parent folder names (its index in `classes`), or None."""
    parent = os.path.basename(os.path.dirname(os.path.abspath(path)))
    try:
        return list(classes).index(parent)
    except ValueError:
        return None


# ----------------------------------------------------------------------------------------------------- models
def eval_preprocess(preprocessing: Preprocessing) -> Callable[[np.ndarray], np.ndarray]:
    """File bytes -> float32 CHW through the eager MindSpore transforms of eval.py's pipeline."""
    from mindspore.dataset import transforms

    from ..data.transforms import folder_eval_transforms
    compose = transforms.Compose(folder_eval_transforms(preprocessing.image_size, preprocessing.eval_resize,
                                                        preprocessing.mean, preprocessing.std,
                                                        preprocessing.interpolation))

    def apply(data: np.ndarray) -> np.ndarray:
        out = compose(data)
        return out[0] if isinstance(out, (tuple, list)) else out
    return apply


def load_images(paths: Sequence[str], preprocess: Callable[[np.ndarray], np.ndarray],
                image_check: str = "structure") -> Tuple[List[Tuple[str, np.ndarray]], List[Tuple[str, str]]]:
    """([(path, float32 CHW)], [(path, why skipped, naming the file)]): each file checked first (check_image_file:
    MindSpore's decoder can kill the process on a truncated JPEG), then preprocessed; a failure skips the file."""
    loaded, skipped = [], []
    for path in paths:
        try:
            if image_check != "none":
                check_image_file(path, decode=image_check == "decode")
            image = preprocess(np.fromfile(path, dtype=np.uint8))
        except DataError as e:
            skipped.append((path, str(e).split("; remove or replace it")[0]))
            continue
        except (RuntimeError, OSError, ValueError) as e:
            skipped.append((path, f"cannot read or decode '{path}': {str(e).strip().splitlines()[0][:200]}"))
            continue
        loaded.append((path, np.ascontiguousarray(image, np.float32)))
    return loaded, skipped
