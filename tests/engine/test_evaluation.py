"""Evaluation counts (src/engine/evaluation.py): the confusion matrix, per-class accuracy and most confused pairs,
top-k and confusion counts summed across ranks to the one-process result, the result JSON, and evaluate's one
batch size."""
import json

import numpy as np
import pytest

from src.engine.evaluation import (ConfusionAccumulator, TopKAccumulator, confusion_details, evaluate_batches,
                                   format_confused)


def test_confusion_counts_per_class_accuracy_and_ranks():
    acc = ConfusionAccumulator(3)
    logits = np.array([[3, 1, 0], [0, 2, 1], [0, 2, 1], [1, 1, 0], [0, 0, 5]], np.float32)  # ties: lower index
    labels = np.array([0, 1, 2, 1, 2])
    acc.update(logits, labels)
    assert acc.matrix.tolist() == [[1, 0, 0], [1, 1, 0], [0, 1, 1]]
    names = ["cat", "dog", "fox"]
    details = confusion_details(acc, names, acc.most_confused(5))
    assert details["per_class"] == {"cat": {"accuracy": 1.0, "num_samples": 1},
                                    "dog": {"accuracy": 0.5, "num_samples": 2},
                                    "fox": {"accuracy": 0.5, "num_samples": 2}}
    assert details["most_confused"] == [{"true": "dog", "predicted": "cat", "count": 1},
                                        {"true": "fox", "predicted": "dog", "count": 1}]
    assert format_confused(acc.most_confused(1), names)[1].split() == ["1", "x", "dog", "->", "cat"]
    # the same top-1 as the top-k counts
    shard = [(logits, labels)]
    assert evaluate_batches(lambda x: x, shard)["top_1_accuracy"] == np.trace(acc.matrix) / 5


def test_confusion_is_summed_across_ranks_like_the_topk_counts():
    rng = np.random.default_rng(1)
    logits, labels = rng.standard_normal((40, 5)), rng.integers(0, 5, 40)
    whole = ConfusionAccumulator(5)
    whole.update(logits, labels)
    ranks = [ConfusionAccumulator(5), ConfusionAccumulator(5)]
    ranks[1].update(logits[20:], labels[20:])  # the other rank's shard; rank 0's is scored below
    other_topk = TopKAccumulator()
    other_topk.update(logits[20:], labels[20:])
    # what sum_across_ranks returns on rank 0: its values plus the other rank's (float32, as all_reduce_sum)
    others = {3: np.array([other_topk.correct[1], other_topk.correct[5], other_topk.count], np.float32),
              25: ranks[1].matrix.reshape(-1).astype(np.float32)}
    result = evaluate_batches(lambda x: x, [(logits[:20], labels[:20])],
                              lambda v: np.asarray(v, np.float32) + others[len(v)], [ranks[0]])
    assert np.array_equal(ranks[0].matrix, whole.matrix) and whole.matrix.sum() == 40
    assert result == evaluate_batches(lambda x: x, [(logits, labels)])


def test_counts_reduce_to_the_one_process_result():
    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((19, 7)), rng.integers(0, 7, 19)
    whole = TopKAccumulator()
    whole.update(logits, labels)
    parts = [TopKAccumulator() for _ in range(2)]
    for r, acc in enumerate(parts):
        acc.update(logits[r::2], labels[r::2])
    totals = sum(np.asarray([a.correct[1], a.correct[5], a.count], np.float64) for a in parts)
    for acc in parts:
        acc.reduce(lambda values: totals)
        assert acc.result() == whole.result()


def test_result_json_keeps_its_keys(tmp_path):
    from src.engine.evaluation import write_result_json
    write_result_json({"top_1_accuracy": 0.5}, str(tmp_path / "r.json"), per_class={"a": {"accuracy": 1.0}})
    assert json.load(open(tmp_path / "r.json")) == {"top_1_accuracy": 0.5, "per_class": {"a": {"accuracy": 1.0}}}


def test_evaluate_runs_the_network_at_one_batch_size_and_scores_every_sample():
    """52 samples in batches of 16: the short last batch (4) is padded to 16, so a graph compiles once; the top-1
    and top-5 are those of each sample's own logits."""
    import mindspore as ms
    import mindspore.dataset as ds
    from mindspore import nn

    from src.engine.evaluation import evaluate

    class Spy(nn.Cell):
        """Logits that depend on each sample alone; records every batch size it is called with."""
        def __init__(self):
            super().__init__()
            self.sizes = []
            self.weights = ms.Tensor(np.random.default_rng(1).standard_normal((12, 7)).astype(np.float32))

        def construct(self, x):
            self.sizes.append(x.shape[0])
            return ms.ops.matmul(x.reshape(x.shape[0], -1), self.weights)

    rng = np.random.default_rng(0)
    images = rng.standard_normal((52, 3, 2, 2)).astype(np.float32)
    labels = rng.integers(0, 7, 52).astype(np.int32)
    dataset = ds.NumpySlicesDataset({"image": images, "label": labels}, shuffle=False).batch(16)
    net = Spy()
    ms.set_context(mode=ms.PYNATIVE_MODE)  # the spy records in Python
    result = evaluate(net, dataset)
    assert net.sizes == [16, 16, 16, 16]
    logits = images.reshape(52, -1) @ net.weights.asnumpy()
    top5 = np.argsort(-logits, axis=1)[:, :5]
    assert result["top_1_accuracy"] == pytest.approx(np.mean(top5[:, 0] == labels))
    assert result["top_5_accuracy"] == pytest.approx(np.mean((top5 == labels[:, None]).any(axis=1)))
    assert 0 < result["top_1_accuracy"] < 1
