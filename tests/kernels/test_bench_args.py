"""python -m src.kernels.bench refuses measurements given together and counts below 1, naming the values."""
import pytest

from src.kernels import bench


@pytest.mark.parametrize("argv, named", [(["--fusion", "--compile", "3"], "--fusion and --compile 3"),
                                         (["--batchnorm", "--fusion"], "--fusion and --batchnorm"),
                                         (["--compile", "-2"], "--compile -2"),
                                         (["--compile", "4", "--rounds", "0"], "--rounds 0")])
def test_contradictory_or_empty_requests_are_refused(argv, named, capsys):
    with pytest.raises(SystemExit) as stop:
        bench.main(argv)
    assert stop.value.code == 2
    assert named in capsys.readouterr().err
