"""Which samples each rank reads: a disjoint shard per rank, for training and for evaluation.

MindSpore's built-in sharding pads every shard to the same length by repeating samples. For training that shows a
few images twice per epoch; for evaluation it scores them twice, so the accuracy of N ranks differs from one
process (mindocr#271, pytorch#25162). Here:
  - training: every epoch one permutation of all samples, the same on every rank (seed + epoch); rank r takes
    positions r, r + N, r + 2N, ... of it, `total // N` of them. Shards are disjoint, equally long (so every rank
    runs the same number of steps), and together they are the first `N * (total // N)` samples of the permutation:
    the global batch of step k is exactly the batch of step k of a one-process run over the same permutation with
    an N-times larger batch. At most N - 1 samples (a different few each epoch) are left out of an epoch.
  - evaluation: rank r scores samples r, r + N, ... in order; shards differ in length by at most one, nothing is
    repeated or left out, and the per-rank counts are summed.
"""
import os
from typing import Iterator, List, Optional

import numpy as np
import mindspore.dataset as ds


def shard_indices(total: int, num_shards: int, shard_id: int, shuffle: bool, seed: int = 0,
                  epoch: int = 0) -> np.ndarray:
    """The sample indices shard `shard_id` of `num_shards` reads in `epoch` (see the module docstring)."""
    if num_shards < 1 or not 0 <= shard_id < num_shards:
        raise ValueError(f"shard {shard_id} of {num_shards}: expected 0 <= shard_id < num_shards")
    if not shuffle:
        return np.arange(shard_id, total, num_shards, dtype=np.int64)
    order = np.random.RandomState((seed + epoch) % 2 ** 32).permutation(total)
    return order[shard_id::num_shards][:total // num_shards]


def shard_length(total: int, num_shards: int, shard_id: int, shuffle: bool) -> int:
    if shuffle:
        return total // num_shards
    return len(range(shard_id, total, num_shards))


class ShardSampler(ds.Sampler):
    """A MindSpore sampler over `shard_indices`; MindSpore iterates it once per epoch.

    `record`: a file to which each epoch's indices are appended as a line `epoch <e>: <i> <i> ...` (an audit of
    what this rank read)."""

    def __init__(self, total: int, num_shards: int = 1, shard_id: int = 0, shuffle: bool = True, seed: int = 0,
                 start_epoch: int = 0, record: Optional[str] = None):
        if total < 1:
            raise ValueError(f"cannot shard {total} samples")
        shard_indices(0, num_shards, shard_id, False)  # validates the shard arguments
        self.total = total
        self.num_shards = num_shards
        self.shard_id = shard_id
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = start_epoch
        self.record = record
        super().__init__()  # reads len(self)

    def __iter__(self) -> Iterator[int]:
        indices = shard_indices(self.total, self.num_shards, self.shard_id, self.shuffle, self.seed, self.epoch)
        if self.record:
            os.makedirs(os.path.dirname(os.path.abspath(self.record)), exist_ok=True)
            with open(self.record, "a") as f:
                f.write(f"epoch {self.epoch + 1}: {' '.join(str(i) for i in indices.tolist())}\n")
        self.epoch += 1
        return iter(indices.tolist())

    def __len__(self) -> int:
        return shard_length(self.total, self.num_shards, self.shard_id, self.shuffle)


def read_sample_record(path: str) -> List[List[int]]:
    """The per-epoch index lists a ShardSampler recorded in `path`."""
    epochs = []
    with open(path) as f:
        for line in f:
            _, _, values = line.partition(":")
            epochs.append([int(v) for v in values.split()])
    return epochs
