"""Which registered model a checkpoint without a record holds (the model zoo's, or ours from before records).

Every registered model's parameter names and shapes are compared with the checkpoint's, at any class count (the
classifier's rows are free), directly and through each model's name maps of MindSpore checkpoints written elsewhere
(the model zoo's, MindCV's). One match is the answer; none or several give an error naming the closest candidates
and what differs.
"""
import functools
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

from .convert import drop_bookkeeping, format_names
from .registry import create_model, get_default_cfg, list_models, weight_sources

Shapes = Dict[str, Tuple[int, ...]]
# The sources whose checkpoints are MindSpore files (a match can be found through their names), described
MINDSPORE_SOURCES = {"modelzoo": "the model zoo's names", "mindcv": "MindCV's names"}


@dataclass(frozen=True)
class Match:
    """A registered model whose parameters a checkpoint holds, under the names of `source` (None: ours)."""
    model: str
    source: Optional[str] = None

    def describe(self) -> str:
        return "our names" if self.source is None else MINDSPORE_SOURCES[self.source]


@functools.lru_cache(maxsize=None)
def signature(name: str) -> Tuple[Tuple[str, Tuple[int, ...]], ...]:
    """(parameter name, shape) of every parameter of `name` (7 classes), BatchNorm statistics included."""
    net = create_model(name, num_classes=7)
    return tuple((p.name, tuple(p.shape)) for p in net.get_parameters())


def compare(shapes: Shapes, model: str) -> Tuple[List[str], List[str], List[str]]:
    """(missing, unexpected, mismatched) parameters of `shapes` against `model`. The classifier's class count is
    free and, in networks sized for one resolution, so is the extent of the gather kernels."""
    expected = dict(signature(model))
    classifier = get_default_cfg(model).classifier + "."
    sized = get_default_cfg(model).fixed_resolution
    missing = [n for n in expected if n not in shapes]
    unexpected = [n for n in shapes if n not in expected]
    mismatched = []
    for name, want in expected.items():
        got = shapes.get(name)
        if got is None:
            continue
        if name.startswith(classifier):
            ok = got[1:] == want[1:]
        elif sized and name.endswith(".gather.0.weight"):
            ok = got[:2] == want[:2] and len(got) == len(want)
        else:
            ok = got == want
        if not ok:
            mismatched.append(f"{name} {got} (expected {want})")
    return missing, unexpected, mismatched


def _renamed(shapes: Shapes, model: str, source: str) -> Optional[Shapes]:
    renamer = weight_sources(model)[source].renamer
    out: Shapes = {}
    for name, shape in shapes.items():
        target = renamer(name, shapes)
        if target is None or target in out:
            return None
        out[target] = shape
    return out


def recognise(entries: Mapping) -> Tuple[List[Match], List[Tuple[str, str]]]:
    """([Match] of the models that fit exactly, [(model, what differs)] of the closest others, closest first).

    `entries`: a checkpoint's name -> array-like (anything with .shape); optimizer and bookkeeping entries are
    ignored. Each model is tried under our names, then under the names of the MindSpore checkpoints written
    elsewhere that it converts from (MINDSPORE_SOURCES)."""
    shapes = {name: tuple(value.shape) for name, value in drop_bookkeeping(dict(entries)).items()
              if hasattr(value, "shape")}
    matches, near = [], []
    for model in list_models():
        tries = [(None, shapes)]
        for source in MINDSPORE_SOURCES:
            if source in weight_sources(model):
                renamed = _renamed(shapes, model, source)
                if renamed is not None and renamed != shapes:
                    tries.append((source, renamed))
        best = None
        for source, candidate in tries:
            missing, unexpected, mismatched = compare(candidate, model)
            if not (missing or unexpected or mismatched):
                matches.append(Match(model, source))
                best = None
                break
            score = len(missing) + len(unexpected) + len(mismatched)
            if best is None or score < best[0]:
                best = (score, _describe(missing, unexpected, mismatched))
        if best is not None:
            near.append((best[0], model, best[1]))
    near.sort()
    return matches, [(model, text) for _, model, text in near[:3]]


def _describe(missing: List[str], unexpected: List[str], mismatched: List[str]) -> str:
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {format_names(missing, 2)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {format_names(unexpected, 2)})")
    if mismatched:
        parts.append(f"{len(mismatched)} of another shape (e.g. {format_names(mismatched, 2)})")
    return "; ".join(parts)
