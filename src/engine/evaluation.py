"""Scoring a network over a data set: top-1 / top-5 over every sample, and (ConfusionAccumulator) the confusion
matrix with per-class accuracy and the most confused pairs."""
import json
import os
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

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


class ConfusionAccumulator:
    """Running confusion counts over batches: matrix[true, predicted] (the top-1 prediction, ties to the lower
    class index as in topk_correct)."""

    def __init__(self, num_classes: int):
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        self.num_classes = num_classes
        self.matrix = np.zeros((num_classes, num_classes), np.int64)

    def update(self, logits: np.ndarray, labels: np.ndarray) -> None:
        logits = np.asarray(logits)
        labels = np.asarray(labels).reshape(-1).astype(np.int64)
        if logits.ndim != 2 or logits.shape[0] != labels.shape[0] or logits.shape[1] > self.num_classes:
            raise ValueError(f"logits {logits.shape} and labels {labels.shape} do not fit {self.num_classes} "
                             f"classes")
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"label {labels.max()} outside the {self.num_classes} classes")
        predicted = np.argmax(logits, axis=1)
        self.matrix += np.bincount(labels * self.num_classes + predicted,
                                   minlength=self.num_classes ** 2).reshape(self.num_classes, self.num_classes)

    def reduce(self, sum_across_ranks) -> None:
        """Replace this rank's counts by the sums over all ranks (each rank scored its own shard)."""
        summed = np.asarray(sum_across_ranks(self.matrix.reshape(-1).astype(np.float64)), np.float64)
        self.matrix = np.rint(summed).astype(np.int64).reshape(self.num_classes, self.num_classes)

    def per_class(self, classes: Sequence[str]) -> Dict[str, Dict[str, float]]:
        """{class name: {"accuracy": top-1 of its images, "num_samples": its images}} for every class with
        images."""
        out = {}
        for index, total in enumerate(self.matrix.sum(axis=1)):
            if total:
                out[classes[index]] = {"accuracy": float(self.matrix[index, index] / total),
                                       "num_samples": int(total)}
        return out

    def most_confused(self, count: int = 10) -> List[Tuple[int, int, int]]:
        """(true, predicted, images) of the `count` largest off-diagonal counts, most first."""
        off = self.matrix.copy()
        np.fill_diagonal(off, 0)
        flat = np.argsort(-off.reshape(-1), kind="stable")[:count]
        pairs = [(int(i // self.num_classes), int(i % self.num_classes), int(off.reshape(-1)[i])) for i in flat]
        return [p for p in pairs if p[2] > 0]


def padded_predict(predict: Callable[[np.ndarray], np.ndarray], batch_size: int) -> Callable:
    """`predict` fed only full batches of `batch_size` (a short last batch is padded with zeros and its padding's
    outputs dropped), so a graph-mode network compiles once: a second batch size compiles the graph again (4.7 s
    for ghostnet_050 at 48x48 on a CPU where the first took 6.4 s)."""
    def run(batch: np.ndarray) -> np.ndarray:
        real = len(batch)
        if real < batch_size:
            batch = np.concatenate([batch, np.zeros((batch_size - real,) + batch.shape[1:], batch.dtype)])
        return np.asarray(predict(batch))[:real]
    return run


def evaluate_batches(predict, batches: Iterable[Tuple[np.ndarray, np.ndarray]], sum_across_ranks=None,
                     accumulators: Sequence = (), progress: Optional[Callable[[int], None]] = None
                     ) -> Dict[str, float]:
    """Score `predict(images) -> logits` over (images, labels) batches; with `sum_across_ranks`, the batches are
    this rank's shard and the result covers all ranks. `accumulators` (e.g. a ConfusionAccumulator) see every
    batch too and are reduced alike; `progress` is called with each batch's size."""
    acc = TopKAccumulator()
    for images, labels in batches:
        logits = predict(images)
        acc.update(logits, labels)
        for extra in accumulators:
            extra.update(logits, labels)
        if progress is not None:
            progress(int(np.asarray(labels).shape[0]))
    if sum_across_ranks is not None:
        acc.reduce(sum_across_ranks)
        for extra in accumulators:
            extra.reduce(sum_across_ranks)
    return acc.result()


def evaluate(net, dataset, sum_across_ranks=None, accumulators: Sequence = (),
             progress: Optional[Callable[[int], None]] = None) -> Dict[str, float]:
    """Top-1 / top-5 of a MindSpore network (put in eval mode here) over every sample of `dataset` (and, with
    `sum_across_ranks`, of the other ranks' shards); `accumulators` and `progress` as in evaluate_batches."""
    import mindspore as ms
    from ..runtime import graph_runner
    was_training = net.training
    net.set_train(False)
    try:
        batches = ((img.asnumpy(), lbl.asnumpy()) for img, lbl in dataset.create_tuple_iterator(num_epochs=1))
        run = graph_runner(net)
        predict = padded_predict(lambda x: run(ms.Tensor(x)).asnumpy(), dataset.get_batch_size())
        return evaluate_batches(predict, batches, sum_across_ranks, accumulators, progress)
    finally:
        net.set_train(was_training)


def format_result(result: Dict[str, float], checkpoint: str = "") -> str:
    """The model zoo's line: `result: {'top_1_accuracy': ..., 'top_5_accuracy': ...} ckpt=...`."""
    shown = {k: v for k, v in result.items() if k.endswith("accuracy")}
    return f"result: {shown} ckpt={checkpoint}"


def format_confused(pairs: Sequence[Tuple[int, int, int]], classes: Sequence[str]) -> List[str]:
    """Log lines of the most confused pairs (a heading, then `  12 x  true -> predicted`); none when none."""
    if not pairs:
        return []
    return ([f"most confused (images, true -> predicted), {len(pairs)} pair(s):"]
            + [f"{count:6d} x  {classes[t]} -> {classes[p]}" for t, p, count in pairs])


def confusion_details(confusion: ConfusionAccumulator, classes: Sequence[str],
                      pairs: Sequence[Tuple[int, int, int]]) -> Dict:
    """The result file's entries: per_class accuracy and the most confused `pairs` by name."""
    return {"per_class": confusion.per_class(classes),
            "most_confused": [{"true": classes[t], "predicted": classes[p], "count": c} for t, p, c in pairs]}


def write_result_json(result: Dict[str, float], path: str, **extra) -> None:
    """The result (and `extra` entries) as indented JSON."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump({**result, **extra}, f, indent=2)
