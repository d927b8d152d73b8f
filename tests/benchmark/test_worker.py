"""The benchmark's worker (src/benchmark/worker.py) gives a PyTorch or onnxruntime process the environment without
what `import src` sets for MindSpore."""
import os

import pytest

from src.benchmark import worker


@pytest.fixture
def package_defaults(monkeypatch):
    """The environment a worker inherits from benchmark.py after `import src` set both defaults."""
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.setenv("GHOSTZOO_DEFAULTED", "OMP_WAIT_POLICY,ONEDNN_MAX_CPU_ISA")


@pytest.mark.parametrize("spec", [{"job": "infer", "framework": "timm"}, {"job": "train", "framework": "timm"},
                                  {"job": "onnx", "framework": "ours"}])
def test_reference_processes_run_without_the_packages_defaults(package_defaults, spec):
    worker._reference_environment(spec)
    assert "OMP_WAIT_POLICY" not in os.environ and "ONEDNN_MAX_CPU_ISA" not in os.environ


def test_the_spec_names_the_reference_instruction_set_and_the_users_policy_stays(package_defaults, monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    monkeypatch.setenv("GHOSTZOO_DEFAULTED", "ONEDNN_MAX_CPU_ISA")
    worker._reference_environment({"job": "infer", "framework": "timm", "onednn_isa": "AVX512_CORE"})
    assert os.environ["ONEDNN_MAX_CPU_ISA"] == "AVX512_CORE" and os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_our_processes_keep_the_packages_defaults(package_defaults):
    worker._reference_environment({"job": "infer", "framework": "ours"})
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE" and os.environ["ONEDNN_MAX_CPU_ISA"] == "AVX2"
