"""ImageNet-1k class names shipped with the package, and the label sets published weights use.

`imagenet_classes.txt` holds one `synset<TAB>lemma` line per class in label order (the sorted synset folder names,
label 0 = n01440764 "tench"). It was generated from timm's installed data files (see docs/weights.md):
`imagenet_synsets.txt` gives the order, `imagenet_synset_to_lemma.txt` the names.

Label sets: "imagenet-1k" (1000 classes) and "imagenet-1k+1" (1001 outputs: the 1000 classes in the same order and
one extra last output that no image is labelled with; MindCV's and the model zoo's MobileNetV1 heads, which MindCV's
own loader slices to the first 1000 rows).
"""
import functools
import os
from typing import Dict, List, Optional, Sequence

LABEL_SETS = {"imagenet-1k": 1000, "imagenet-1k+1": 1001}
UNUSED = "(unused output)"


@functools.lru_cache(maxsize=None)
def _table() -> Dict[str, str]:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "imagenet_classes.txt")
    with open(path, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    return {synset: lemma for synset, lemma in rows}


def imagenet_synsets() -> List[str]:
    return list(_table())


def imagenet_classes() -> List[str]:
    """The 1000 ImageNet-1k class names in label order (e.g. index 281: "tabby, tabby cat")."""
    return list(_table().values())


def label_set_classes(label_set: str) -> List[str]:
    """The class names of a label set (see LABEL_SETS)."""
    if label_set not in LABEL_SETS:
        raise ValueError(f"unknown label set '{label_set}'; known: {', '.join(LABEL_SETS)}")
    return imagenet_classes() + [UNUSED] * (LABEL_SETS[label_set] - 1000)


def readable_classes(classes: Optional[Sequence[str]], num_classes: int) -> Optional[List[str]]:
    """Names to show for a model's outputs: ImageNet synset folder names turned into their names, and, when nothing
    is recorded, ImageNet's names for a 1000- or 1001-output head; None when neither applies."""
    table = _table()
    if classes:
        if all(c in table for c in classes):
            return [table[c] for c in classes]
        return None
    for label_set, count in LABEL_SETS.items():
        if count == num_classes:
            return label_set_classes(label_set)
    return None
