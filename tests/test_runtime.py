"""runtime: a graph compiled before its first run, and the heap that compiling freed given back to the system."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.support import ROOT

# 192 MiB in 64 KiB blocks (under glibc's mmap threshold, so on the heap), then all but every 16th freed: holes
# of 960 KiB amid the heap, whose pages stay resident until release_freed_memory, as the small freed allocations
# of a graph compile did. Prints VmRSS (KiB) allocated, freed, released.
HEAP_SCRIPT = textwrap.dedent("""
    import ctypes, re
    from src.runtime import release_freed_memory

    def rss():
        return int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read()).group(1))

    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    blocks = [libc.malloc(64 * 1024) for _ in range(3072)]
    for b in blocks:
        ctypes.memset(b, 1, 64 * 1024)
    allocated = rss()
    for i, b in enumerate(blocks):
        if i % 16 != 15:
            libc.free(b)
    freed = rss()
    released = release_freed_memory()
    print("RSS", allocated, freed, rss(), released)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim; reads /proc/self/status")
def test_release_freed_memory_gives_freed_heap_pages_back():
    result = subprocess.run([sys.executable, "-c", HEAP_SCRIPT], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, env=dict(os.environ, GLOG_v="3"))
    assert result.returncode == 0, result.stderr[-3000:]
    allocated, freed, released, could = result.stdout.split("RSS ", 1)[1].split()
    allocated, freed, released = int(allocated) // 1024, int(freed) // 1024, int(released) // 1024
    assert could == "True"
    # the premise: free() alone leaves them resident (else the release would have nothing to show)
    assert freed > allocated - 32, (allocated, freed, released)
    assert released < freed - 160, (allocated, freed, released)


class _Recorder:
    """Records the compiles of a cell and the releases, in order."""

    def __init__(self, monkeypatch, cell):
        import src.runtime
        self.events = []
        compile_ = cell.compile

        def record_compile(*inputs):
            self.events.append(("compile", tuple(x.shape for x in inputs)))
            return compile_(*inputs)

        monkeypatch.setattr(cell, "compile", record_compile)
        monkeypatch.setattr(src.runtime, "release_freed_memory", lambda: self.events.append("release") or True)

    def first_compiles(self):
        """The events, each signature's first compile and the releases: Cell.__call__ compiles again on every
        call (a cache hit after the first), which is what compile_first must come before."""
        seen, out = set(), []
        for event in self.events:
            if event == "release":
                out.append(event)
            elif event[1] not in seen:
                seen.add(event[1])
                out.append(event[1])
        return out


def _dense():
    import mindspore as ms
    from mindspore import nn
    ms.set_seed(0)
    return nn.Dense(4, 3)


def test_graph_runner_compiles_each_new_signature_first_then_releases(monkeypatch):
    import mindspore as ms
    from src.runtime import graph_runner
    ms.set_context(mode=ms.GRAPH_MODE)
    net = _dense()
    recorder = _Recorder(monkeypatch, net)
    run = graph_runner(net)
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    out = run(ms.Tensor(x)).asnumpy()
    np.testing.assert_allclose(out, x @ net.weight.asnumpy().T + net.bias.asnumpy(), rtol=1e-5, atol=1e-6)
    run(ms.Tensor(x + 1))
    assert recorder.first_compiles() == [((2, 4),), "release"]
    run(ms.Tensor(np.zeros((5, 4), np.float32)))
    assert recorder.first_compiles() == [((2, 4),), "release", ((5, 4),), "release"]
    ms.set_context(mode=ms.PYNATIVE_MODE)
    pynative = graph_runner(net)
    pynative(ms.Tensor(np.zeros((7, 4), np.float32)))
    assert recorder.first_compiles() == [((2, 4),), "release", ((5, 4),), "release"]  # PyNative compiles nothing


def test_prediction_and_training_compile_first_then_release(monkeypatch):
    """network_predict (predict.py, eval's report) and the trainer's HostOutputs go through compile_first;
    evaluate shares graph_runner with network_predict (test_evaluation runs it in PyNative)."""
    import mindspore as ms
    from src.engine.trainer import HostOutputs
    from src.prediction import network_predict
    ms.set_context(mode=ms.GRAPH_MODE)
    net = _dense()
    recorder = _Recorder(monkeypatch, net)
    predict = network_predict(net)
    predict(np.ones((2, 4), np.float32))
    predict(np.ones((2, 4), np.float32))
    assert recorder.first_compiles() == [((2, 4),), "release"]

    wrapped = HostOutputs(_dense())
    recorder = _Recorder(monkeypatch, wrapped)
    out = wrapped(ms.Tensor(np.ones((3, 4), np.float32)))
    wrapped(ms.Tensor(np.ones((3, 4), np.float32)))
    assert out.shape == (3, 3)
    assert recorder.first_compiles() == [((3, 4),), "release"]
