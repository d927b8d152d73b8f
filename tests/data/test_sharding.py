"""Data-parallel sharding (src/data/sharding.py): training shards are disjoint and together give the one-process
batches, evaluation shards score every sample once, and the pipeline delivers what the sampler records."""
import os

import numpy as np
import pytest
from PIL import Image

from src.data.sharding import ShardSampler, read_sample_record, shard_indices
from tests.support import make_loader


@pytest.mark.parametrize("total,shards", [(64, 2), (67, 2), (50, 8), (7, 3)])
def test_training_shards_are_disjoint_and_match_one_process(total, shards):
    for epoch in range(2):
        parts = [shard_indices(total, shards, r, True, seed=5, epoch=epoch) for r in range(shards)]
        assert len({len(p) for p in parts}) == 1 and len(parts[0]) == total // shards
        flat = np.concatenate(parts)
        assert len(set(flat.tolist())) == len(flat)  # no sample twice
        # step k of the ranks together = step k of one process over the same permutation, batch x shards
        single = shard_indices(total, 1, 0, True, seed=5, epoch=epoch)
        batch = 2
        for k in range(len(parts[0]) // batch):
            together = np.concatenate([p[k * batch:(k + 1) * batch] for p in parts])
            assert sorted(together) == sorted(single[k * batch * shards:(k + 1) * batch * shards])
    assert not np.array_equal(shard_indices(64, 2, 0, True, 5, 0), shard_indices(64, 2, 0, True, 5, 1))


@pytest.mark.parametrize("total,shards", [(19, 2), (50, 8), (3, 4)])
def test_evaluation_shards_score_every_sample_once(total, shards):
    parts = [shard_indices(total, shards, r, False) for r in range(shards)]
    assert sorted(np.concatenate(parts).tolist()) == list(range(total))


def test_shard_arguments_are_checked():
    with pytest.raises(ValueError, match="shard 2 of 2"):
        ShardSampler(10, 2, 2)


def _solid_folder(root, classes=3, per_class=(5, 6, 6)):
    """Class folders of solid-colour JPEGs; the colour encodes the image's position in the scan order. The names
    sort differently as strings and as numbers (img_10 before img_2)."""
    index = 0
    for c in range(classes):
        os.makedirs(os.path.join(root, f"class_{c}"))
        names = sorted(f"img_{i}.jpg" for i in range(per_class[c]))
        for name in names:
            Image.fromarray(np.full((24, 24, 3), 10 * index + 5, np.uint8)).save(
                os.path.join(root, f"class_{c}", name), quality=100)
            index += 1
    return index


def _read_indices(info):
    got = []
    for images, labels in info.dataset.create_tuple_iterator(output_numpy=True, num_epochs=1):
        got += [int(round((v * 255 - 5) / 10)) for v in images[:, 0, 12, 12]]
    return got


def test_pipeline_shards_address_the_scanned_files(tmp_path):
    total = _solid_folder(str(tmp_path / "val"))
    _solid_folder(str(tmp_path / "train"))
    options = dict(image_size=16, batch_size=2, mean=(0, 0, 0), std=(1, 1, 1), hflip=0, num_shards=2, seed=1)
    seen = []
    for rank in range(2):
        info = make_loader(str(tmp_path), "val", shard_id=rank, **options)
        assert (info.total, info.num_samples) == (total, len(range(rank, total, 2)))
        got = _read_indices(info)
        assert got == shard_indices(total, 2, rank, False).tolist()
        seen += got
    assert sorted(seen) == list(range(total))  # every image once, the odd one included
    # training: what the sampler records is what the pipeline delivers
    for rank in range(2):
        record = str(tmp_path / f"samples_rank{rank}.txt")
        info = make_loader(str(tmp_path), "train", shard_id=rank, epoch=3, record=record, **options)
        got = _read_indices(info)
        recorded = read_sample_record(record)
        assert got == recorded[0][:len(got)] == shard_indices(total, 2, rank, True, 1, 3).tolist()[:len(got)]
