"""The run's report files (src/engine/report.py): summary.csv written and read back value by value, a damaged one
named, and the epochs of a train.log (a killed and resumed run, a fresh run in the same folder) read back."""
import os

import pytest

from src.engine.report import parse_train_log, read_run, write_report_files
from tests.support import TRAIN_LOG, run_history


def test_summary_csv_round_trip_keeps_every_value(tmp_path):
    history = run_history()
    write_report_files(str(tmp_path), history)
    header = (tmp_path / "summary.csv").read_text().splitlines()[0]
    assert header == ("epoch,train_loss,last_loss,lr,img_per_sec,epoch_seconds,val_top1,val_top5,best_top1,"
                      "best_epoch")
    assert (tmp_path / "summary.csv").read_text().splitlines()[1].endswith(",123.4,1.500000,,,,")  # empty cells
    back = read_run(str(tmp_path))
    assert back.source == "summary.csv" and back.steps_per_epoch == 5
    assert back.rows == history.rows and back.steps == history.steps
    assert back.best() == (0.4 + 0.15 * 4, 4)
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]  # written aside, renamed


def test_damaged_summary_csv_is_named(tmp_path):
    (tmp_path / "summary.csv").write_text("epoch,train_loss\n1,abc\n")
    with pytest.raises(ValueError, match=r"summary.csv' line 2, column train_loss: 'abc' is not a number"):
        read_run(str(tmp_path))
    (tmp_path / "summary.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="is not a summary.csv of this project"):
        read_run(str(tmp_path))


def test_train_log_of_a_killed_and_resumed_run_gives_each_epoch_once(tmp_path):
    (tmp_path / "train.log").write_text(TRAIN_LOG)
    run = read_run(str(tmp_path))
    assert run.source == "train.log" and run.steps_per_epoch == 2
    assert [r.epoch for r in run.rows] == [1, 2, 3]
    one, two, three = run.rows
    assert (one.train_loss, one.last_loss, one.img_per_sec, one.epoch_seconds) == (1.375, 1.25, 32.0, 2.0005)
    assert (two.val_top1, two.val_top5, two.best_top1, two.best_epoch) == (0.6, 1.0, 0.6, 2)
    assert one.val_top1 is None and one.best_top1 is None
    assert three.train_loss == pytest.approx(0.6) and three.last_loss == 0.5  # the resumed process's epoch 3
    assert [(p.step, p.loss) for p in run.steps if p.epoch == 3] == [(5, 0.7), (6, 0.5)]
    assert run.best() == (0.6, 2)


def test_a_fresh_run_in_the_same_folder_starts_the_log_history_anew(tmp_path):
    (tmp_path / "train.log").write_text(TRAIN_LOG + TRAIN_LOG.splitlines()[0] + "\n" + TRAIN_LOG.splitlines()[2] + "\n")
    run = parse_train_log(str(tmp_path / "train.log"))
    assert [r.epoch for r in run.rows] == [1] and run.rows[0].last_loss == 1.25 and run.rows[0].train_loss == 1.25
