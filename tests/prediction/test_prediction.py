"""The predict library (src/prediction/): images collected from files, folders and globs, inputs without images
named, top-k with ties and the CSV."""
import numpy as np
import pytest

from src.errors import DataError
from src.prediction import collect_images, predictions_csv, spread_over_classes, top_k
from tests.support import write_jpeg


def test_collect_images_from_files_folders_and_globs(tmp_path):
    a = write_jpeg(str(tmp_path / "a" / "x.jpg"))
    b = write_jpeg(str(tmp_path / "a" / "deep" / "y.PNG"))
    c = write_jpeg(str(tmp_path / "c" / "z.jpeg"))
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    assert collect_images([str(tmp_path / "a")]) == [a, b]  # recursive; other files ignored
    assert collect_images([c, str(tmp_path / "*" / "*.jpeg"), str(tmp_path / "a")]) == [c, a, b]  # each once
    assert collect_images([str(tmp_path / "**" / "y.*")]) == [b]


@pytest.mark.parametrize("make,message", [
    (lambda root: str(root), r"no images \(.jpg, .jpeg, .png, .bmp\) in the folder '.*empty'"),
    (lambda root: str(root / "*.jpg"), r"the pattern '.*\*.jpg' matches nothing"),
    (lambda root: str(root / "sub" / "*"), r"matches 1 path\(s\), none an image"),
    (lambda root: str(root / "missing.jpg"), r"'.*missing.jpg' does not exist \(expected an image file"),
])
def test_a_folder_or_pattern_without_images_is_an_error(tmp_path, make, message):
    root = tmp_path / "empty"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "readme.txt").write_text("x")
    with pytest.raises((DataError, FileNotFoundError), match=message):
        collect_images([make(root)])


def test_top_k_ties_and_csv(tmp_path):
    probabilities = np.array([[0.25, 0.25, 0.5], [0.1, 0.6, 0.3]])
    assert top_k(probabilities, 2) == [[(2, 0.5), (0, 0.25)], [(1, 0.6), (2, 0.3)]]
    from src.prediction import Prediction, PredictionRun
    run = PredictionRun([Prediction("d/cat/1.jpg", [(2, 0.5), (0, 0.25)], 0)])
    text = predictions_csv(run, ["cat", "dog", "fox"], 2)
    assert text.splitlines() == ["path,true,top1,prob1,top2,prob2", "d/cat/1.jpg,cat,fox,0.500000,cat,0.250000"]
    assert [x for x in spread_over_classes(list(range(10)), lambda v: v % 3, 5)] == [0, 1, 2, 3, 4]
