"""The memory probe (src/tools/memory_probe.py) prints the peak of each stage of a benchmark measurement."""
import re

from src.tools import memory_probe
from tests.support import optional_torch


def test_probe_prints_each_stage(capsys):
    assert memory_probe.main(["mobilenet_v1_025", "--batch_size", "2", "--image_size", "32", "--steps", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "ours mobilenet_v1_025 train, batch 2, 32x32"
    stages = [line.split(" peak ")[0].strip() for line in lines[1:]]
    assert stages == ["imports and set-up", "network built", "graph compiled", "step 1", "step 2", "whole process"]
    peaks = [int(re.search(r" peak +(\d+) MiB", line).group(1)) for line in lines[1:]]
    assert peaks[-1] == max(peaks[:-1]) > 0
    # what stays resident at a stage's end is at most that stage's peak, and the network's weights stay
    resident = [int(re.search(r"resident after +(\d+) MiB", line).group(1)) for line in lines[1:-1]]
    assert all(0 < r <= p for r, p in zip(resident, peaks))
    assert resident[1] >= resident[0]
    assert resident[2] < peaks[2]  # compiling frees what it used (released after it): two readings, not one twice


def test_probe_compiles_each_network_in_turn(capsys, monkeypatch):
    """--networks N: N fresh networks built and compiled, each its own pair of stages, then the steps."""
    import src.runtime
    built, compiled = [], []
    network, compile_first = memory_probe._network, src.runtime.compile_first
    monkeypatch.setattr(memory_probe, "_network", lambda args: built.append(network(args)) or built[-1])
    monkeypatch.setattr(src.runtime, "compile_first", lambda cell, inputs: compiled.append(id(cell)) or
                        compile_first(cell, inputs))
    assert memory_probe.main(["mobilenet_v1_025", "--job", "infer", "--batch_size", "2", "--image_size", "32",
                              "--steps", "1", "--networks", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" peak ")[0].strip() for line in lines[1:]] == [
        "imports and set-up", "network 1 built", "graph 1 compiled", "network 2 built", "graph 2 compiled",
        "step 1", "whole process"]
    assert len(built) == 2 and built[0] is not built[1]
    assert compiled == [id(built[0]), id(built[1])]  # inference: the deployed network is the cell compiled


def test_probe_holds_what_it_is_asked_to_hold(monkeypatch):
    """train: host copies of a step's outputs (train.py's HostOutputs) by default, the graph's own with
    --held_outputs graph."""
    from src.engine.trainer import HostOutputs
    held = {}

    def runner(args, *rest):
        cell, inputs = real(args, *rest)
        held[args.held_outputs] = cell
        return cell, inputs
    real = memory_probe._runner
    monkeypatch.setattr(memory_probe, "_runner", runner)
    for how in ("host", "graph"):
        assert memory_probe.main(["mobilenet_v1_025", "--batch_size", "2", "--image_size", "32", "--steps", "1",
                                  "--held_outputs", how]) == 0
    assert isinstance(held["host"], HostOutputs) and not isinstance(held["graph"], HostOutputs)
    assert memory_probe.main(["mobilenet_v1_025", "--held_outputs", "device"]) == 2
    assert memory_probe.main(["mobilenet_v1_025", "--job", "infer", "--held_outputs", "graph"]) == 2


torch, needs_torch = optional_torch()


@needs_torch
def test_probe_runs_the_benchmarks_timm_side(capsys, monkeypatch):
    """--side timm: the benchmark's reference network for the model, eager (no compile stage), with what `import
    src` sets for MindSpore (the AVX2 cap, the passive wait policy) lifted as the benchmark's worker lifts it."""
    import os

    from src import CPU_ISA_VARIABLE, WAIT_POLICY_VARIABLE
    monkeypatch.setenv(CPU_ISA_VARIABLE, "AVX2")
    monkeypatch.setenv(WAIT_POLICY_VARIABLE, "PASSIVE")
    monkeypatch.setenv("GHOSTZOO_DEFAULTED", f"{CPU_ISA_VARIABLE},{WAIT_POLICY_VARIABLE}")
    assert memory_probe.main(["ghostnet_050", "--side", "timm", "--job", "infer", "--batch_size", "2",
                              "--image_size", "32", "--steps", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "timm ghostnet_050 infer, batch 2, 32x32"
    assert [line.split(" peak ")[0].strip() for line in lines[1:]] == [
        "imports and set-up", "network built", "step 1", "step 2", "whole process"]
    assert CPU_ISA_VARIABLE not in os.environ and WAIT_POLICY_VARIABLE not in os.environ


def test_probe_refuses_what_its_side_cannot_do(capsys):
    assert memory_probe.main(["mobilenet_v1_025", "--side", "timm", "--steps", "1"]) == 2
    assert "no timm reference for 'mobilenet_v1_025'" in capsys.readouterr().err
    assert memory_probe.main(["ghostnet_050", "--side", "timm", "--held_outputs", "graph"]) == 2
    assert memory_probe.main(["ghostnet_050", "--side", "mindcv", "--model_kwargs", '{"act": "relu"}']) == 2
    assert "--model_kwargs" in capsys.readouterr().err
    assert memory_probe.main(["ghostnet_050", "--networks", "0"]) == 2
    assert "--networks 0: expected a count of at least 1" in capsys.readouterr().err
    assert memory_probe.main(["ghostnet_050", "--side", "timm", "--networks", "2"]) == 2
    assert "--side timm runs PyTorch eagerly" in capsys.readouterr().err
