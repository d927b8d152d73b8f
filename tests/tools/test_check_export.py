"""check_export (src/tools/check_export.py) prints the parity table of ONNX and MINDIR against the network."""
import pytest


@pytest.mark.slow
def test_check_export_tool_prints_the_parity_table(capsys):
    from src.tools import check_export
    assert check_export.main(["mobilenet_v1_025"]) == 0
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| mobilenet_v1_025 |")][0]
    onnx_diff, mindir_diff, scale = (float(v) for v in row.strip("| ").split("|")[1:])
    assert onnx_diff < 1e-4 and mindir_diff < 1e-4 and scale > 0.05
    assert check_export.main(["nonet"]) == 2
    assert "unknown model 'nonet'" in capsys.readouterr().err
