"""The downloader without the internet: a loopback server serves files made here. First download, cache hit with
no network, hash mismatch, a cut connection, no network, a read-only cache, a full disk, two processes at once."""
import errno
import hashlib
import os
import subprocess
import sys

import pytest

from src.weights import fetch
from src.weights.fetch import WeightsError, download
from tests.support import ROOT
from tests.weights.server import WeightServer

PAYLOAD = os.urandom(300_000)
SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def served(tmp_path, monkeypatch):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "w-1234.ckpt").write_bytes(PAYLOAD)
    monkeypatch.setenv("GHOSTZOO_HOME", str(tmp_path / "home"))
    with WeightServer(str(tmp_path / "site")) as server:
        yield server, str(tmp_path / "home" / "downloads" / "w-1234.ckpt")


def leftovers(dest):
    folder = os.path.dirname(dest)
    return [n for n in os.listdir(folder) if ".part" in n] if os.path.isdir(folder) else []


def test_first_download_then_cache_hit_without_network(served):
    server, dest = served
    assert download(f"{server.url}/w-1234.ckpt", dest, SHA) == dest
    assert open(dest, "rb").read() == PAYLOAD and server.requests == ["w-1234.ckpt"]
    server.__exit__()  # no network from here on
    assert download(f"{server.url}/w-1234.ckpt", dest, SHA) == dest
    assert server.requests == ["w-1234.ckpt"] and not leftovers(dest)


def test_hash_mismatch_is_refused_and_nothing_stays(served):
    server, dest = served
    with pytest.raises(WeightsError, match="does not match the published"):
        download(f"{server.url}/w-1234.ckpt", dest, "0" * 64)
    assert not os.path.exists(dest) and not leftovers(dest)
    with pytest.raises(WeightsError, match="does not match"):
        download(f"{server.url}/w-1234.ckpt", dest, prefix="ffffffff" if not SHA.startswith("f") else "00000000")


def test_prefix_hash_of_mindcv_names_is_checked(served):
    server, dest = served
    assert download(f"{server.url}/w-1234.ckpt", dest, prefix=SHA[:8]) == dest


def test_cut_download_leaves_no_half_file_and_the_next_try_succeeds(served):
    server, dest = served
    server.cut.add("w-1234.ckpt")
    with pytest.raises(WeightsError, match="stopped after|failed"):
        download(f"{server.url}/w-1234.ckpt", dest, SHA)
    assert not os.path.exists(dest) and not leftovers(dest)
    assert download(f"{server.url}/w-1234.ckpt", dest, SHA) == dest
    assert open(dest, "rb").read() == PAYLOAD


def test_damaged_cached_file_is_fetched_again(served):
    server, dest = served
    os.makedirs(os.path.dirname(dest))
    open(dest, "wb").write(PAYLOAD[:1000])
    download(f"{server.url}/w-1234.ckpt", dest, SHA)
    assert open(dest, "rb").read() == PAYLOAD and len(server.requests) == 1


def test_no_network_one_line_naming_url_and_where_to_place_it(served):
    server, dest = served
    server.__exit__()
    url = f"{server.url}/w-1234.ckpt"
    with pytest.raises(WeightsError) as e:
        download(url, dest, SHA)
    message = str(e.value)
    assert "\n" not in message and url in message and dest in message
    assert not leftovers(dest)


def test_missing_file_on_the_server(served):
    server, dest = served
    with pytest.raises(WeightsError, match="HTTP 404"):
        download(f"{server.url}/nothing.ckpt", dest)


def test_read_only_cache(served, monkeypatch):
    server, dest = served
    download(f"{server.url}/w-1234.ckpt", dest, SHA)
    home = os.environ["GHOSTZOO_HOME"]
    # root ignores permission bits: there the read-only folder is simulated where the code asks the system
    if os.geteuid() == 0:
        monkeypatch.setattr(fetch.os, "access", lambda path, mode: False)
        real_makedirs = os.makedirs

        def makedirs(path, *args, **kwargs):
            if str(path).startswith(home) and not os.path.isdir(path):
                raise PermissionError(errno.EACCES, "Permission denied", path)
            return real_makedirs(path, *args, **kwargs)
        monkeypatch.setattr(fetch.os, "makedirs", makedirs)
    else:
        for folder in (os.path.dirname(dest), home):
            os.chmod(folder, 0o555)
    try:
        assert download(f"{server.url}/w-1234.ckpt", dest, SHA) == dest  # what is there is used
        other = os.path.join(home, "elsewhere", "w-1234.ckpt")
        with pytest.raises(WeightsError, match="not writable"):
            download(f"{server.url}/w-1234.ckpt", other, SHA)
    finally:
        for folder in (os.path.dirname(dest), home):
            os.chmod(folder, 0o755)


def test_disk_full_leaves_nothing(served, monkeypatch):
    server, dest = served

    class Full:
        def __new__(cls, path, mode="r"):
            return super().__new__(cls) if "w" in mode else open(path, mode)

        def __init__(self, path, mode):
            self.handle = open(path, mode)

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()
    monkeypatch.setattr(fetch, "open", Full, raising=False)
    with pytest.raises(WeightsError, match="disk is full"):
        download(f"{server.url}/w-1234.ckpt", dest, SHA)
    monkeypatch.undo()
    assert not os.path.exists(dest) and not leftovers(dest)


@pytest.mark.slow
def test_two_processes_one_download(served):
    server, dest = served
    server.delay_s = 1.0  # the second process asks while the first is still downloading
    code = ("import sys; from src.weights.fetch import download; "
            f"print(download({server.url + '/w-1234.ckpt'!r}, {dest!r}, {SHA!r}))")
    env = dict(os.environ)
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outputs == [dest, dest]
    assert server.requests == ["w-1234.ckpt"]
    assert open(dest, "rb").read() == PAYLOAD and not leftovers(dest)
