"""The damage sweep (python -m src.tools.image_sweep): it mutates every header byte, survives decoder crashes in
its forked children, and a small sample has no file that crashes or hangs MindSpore's decoder and passes the
structural check; a check that accepts everything is caught missing them."""
import io
import json

import numpy as np
import pytest
from PIL import Image

from src.tools import image_sweep


def check_image_stream(f, size, name="<image>"):
    """A check that accepts everything: the deliberate mistake the sweep must catch (used via --check-module)."""
    return None


def _jpeg(**kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(
        buffer, "JPEG", **kwargs)
    return buffer.getvalue()


def test_every_header_byte_and_the_first_scan_are_mutated():
    data = _jpeg(progressive=True)
    covered = {i for start, end in image_sweep.jpeg_regions(data) for i in range(start, end)}
    first_sos = data.find(b"\xff\xda")
    second_sos = data.find(b"\xff\xda", first_sos + 2)
    assert set(range(second_sos)) - covered == set()          # headers, first scan header and its data
    between = data.find(b"\xff\xc4", first_sos)                # a DHT between two scans
    assert between > first_sos and between in covered
    cases = image_sweep.mutations([("p", data)], seed=0)
    offsets = {offset for _, offset, _, _ in cases}
    assert offsets == covered
    assert all(data[offset] != value for _, offset, _, value in cases)     # no mutation leaves the byte as it was
    assert len(cases) >= 5 * len(offsets)


@pytest.mark.slow
def test_a_decoder_crash_costs_one_child_and_the_rest_is_decoded():
    from tests.data.test_jpeg_check import issue_dht_file
    from src.tools.isolated_decode import decode_batch
    good = _jpeg()
    outcomes = decode_batch([good, issue_dht_file(), b"\xff\xd8 not a jpeg", good, issue_dht_file(), good])
    assert outcomes[0] == outcomes[3] == outcomes[5] == "ok"
    assert outcomes[1] == outcomes[4] == "crash:SIGSEGV"
    assert outcomes[2] == "error"


@pytest.mark.slow
def test_quick_sweep_no_crash_or_hang_passes_the_check(tmp_path, capsys):
    csv_path, json_path = tmp_path / "sweep.csv", tmp_path / "sweep.json"
    assert image_sweep.main(["--quick", "--count", "800", "--csv", str(csv_path), "--json", str(json_path)]) == 0
    figures = json.loads(json_path.read_text())["figures"]
    assert figures["mutated_files"] == 800
    assert figures["crash_or_hang"] > 0          # the sample does hold files that kill the decoder
    assert figures["misses"] == 0 and figures["valid_files_flagged"] == 0
    # The deliberate mistake: with a check that accepts everything every crash is a miss, and the tool fails.
    weak = ["--quick", "--count", "800", "--reuse-decoded", str(csv_path), "--json", str(json_path),
            "--check-module", __name__]
    assert image_sweep.main(weak) == 1
    weak_figures = json.loads(json_path.read_text())["figures"]
    assert weak_figures["misses"] == figures["crash_or_hang"] > 0


def test_bad_options_are_one_error_line(capsys):
    assert image_sweep.main(["--workers", "0"]) == 2
    assert "image_sweep: error: --workers must be >= 1" in capsys.readouterr().err
    assert image_sweep.main(["--csv", "/no/such/folder/x.csv"]) == 2
