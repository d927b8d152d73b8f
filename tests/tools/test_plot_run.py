"""plot_run (src/tools/plot_run.py) redraws a run's curves from summary.csv or train.log and overlays runs."""
from PIL import Image

from src.engine.report import write_report_files
from tests.support import TRAIN_LOG, run_history


def test_plot_run_redraws_and_overlays(tmp_path, capsys):
    from src.tools import plot_run
    new, old = tmp_path / "new", tmp_path / "old"
    new.mkdir()
    old.mkdir()
    write_report_files(str(new), run_history())
    (old / "train.log").write_text(TRAIN_LOG)
    assert plot_run.main([str(new)]) == 0
    assert Image.open(new / "curves.png").size == (1300, 400)
    out = tmp_path / "both.svg"
    assert plot_run.main([str(new), str(old), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "4 epoch(s) from summary.csv, best top-1 1.0000 at epoch 4" in printed
    assert "3 epoch(s) from train.log, best top-1 0.6000 at epoch 2" in printed
    assert out.read_text().startswith("<?xml")
    assert plot_run.main([str(tmp_path / "none")]) == 2
    assert "run folder" in capsys.readouterr().err
    assert plot_run.main([str(new), "--output", str(tmp_path / "x.gif")]) == 2
    assert "unknown suffix '.gif'" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert plot_run.main([str(empty)]) == 2
    assert "holds no summary.csv and no train.log" in capsys.readouterr().err
