"""Scoring a network over a data set: top-1 / top-5 over every sample."""
import json
import os
from typing import Dict, Iterable, Sequence, Tuple

import numpy as np


def topk_correct(logits: np.ndarray, labels: np.ndarray, ks: Sequence[int] = (1, 5)) -> Dict[int, int]:
    """How many rows have their label among the k largest logits, for each k (k capped at the class count)."""
    logits = np.asarray(logits)
    labels = np.asarray(labels).reshape(-1)
    if logits.ndim != 2 or logits.shape[0] != labels.shape[0]:
        raise ValueError(f"logits {logits.shape} and labels {labels.shape} do not match")
    order = np.argsort(-logits, axis=1, kind="stable")
    hits = order == labels[:, None]
    return {k: int(hits[:, :min(k, logits.shape[1])].any(axis=1).sum()) for k in ks}


class TopKAccumulator:
    """Running top-1 / top-5 counts over batches."""

    def __init__(self, ks: Sequence[int] = (1, 5)):
        self.ks = tuple(ks)
        self.correct = {k: 0 for k in self.ks}
        self.count = 0

    def update(self, logits: np.ndarray, labels: np.ndarray) -> None:
        for k, c in topk_correct(logits, labels, self.ks).items():
            self.correct[k] += c
        self.count += int(np.asarray(labels).size)

    def reduce(self, sum_across_ranks) -> None:
        """Replace this rank's counts by the sums over all ranks (each rank scored its own shard)."""
        counts = [self.correct[k] for k in self.ks] + [self.count]
        summed = np.rint(np.asarray(sum_across_ranks(np.asarray(counts, np.float64)), np.float64)).astype(int)
        self.correct = {k: int(c) for k, c in zip(self.ks, summed[:-1])}
        self.count = int(summed[-1])

    def result(self) -> Dict[str, float]:
        if self.count == 0:
            raise ValueError("no samples were scored")
        out = {f"top_{k}_accuracy": self.correct[k] / self.count for k in self.ks}
        out["num_samples"] = self.count
        return out


def evaluate_batches(predict, batches: Iterable[Tuple[np.ndarray, np.ndarray]],
                     sum_across_ranks=None) -> Dict[str, float]:
    """Score `predict(images) -> logits` over (images, labels) batches; with `sum_across_ranks`, the batches are
    this rank's shard and the result covers all ranks."""
    acc = TopKAccumulator()
    for images, labels in batches:
        acc.update(predict(images), labels)
    if sum_across_ranks is not None:
        acc.reduce(sum_across_ranks)
    return acc.result()


def evaluate(net, dataset, sum_across_ranks=None) -> Dict[str, float]:
    """Top-1 / top-5 of a MindSpore network (put in eval mode here) over every sample of `dataset` (and, with
    `sum_across_ranks`, of the other ranks' shards)."""
    was_training = net.training
    net.set_train(False)
    try:
        batches = ((img, lbl.asnumpy()) for img, lbl in dataset.create_tuple_iterator(num_epochs=1))
        return evaluate_batches(lambda x: net(x).asnumpy(), batches, sum_across_ranks)
    finally:
        net.set_train(was_training)


def format_result(result: Dict[str, float], checkpoint: str = "") -> str:
    """The model zoo's line: `result: {'top_1_accuracy': ..., 'top_5_accuracy': ...} ckpt=...`."""
    shown = {k: v for k, v in result.items() if k.endswith("accuracy")}
    return f"result: {shown} ckpt={checkpoint}"


def write_result_json(result: Dict[str, float], path: str, **extra) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump({**result, **extra}, f, indent=2)
