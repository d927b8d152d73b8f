"""The benchmark's worker runner (src/benchmark/runner.py) names the measurement that failed."""
import pytest

from src.benchmark import WorkerError, run_worker


def test_worker_errors_name_the_measurement():
    with pytest.raises(WorkerError, match="ours infer of ghostnet_10: unknown model 'ghostnet_10'"):
        run_worker({"job": "infer", "framework": "ours", "model": "ghostnet_10", "batch_size": 1,
                    "image_size": 32, "warmup": 0, "iters": 1})
    with pytest.raises(WorkerError, match="unknown benchmark job 'fly'"):
        run_worker({"job": "fly", "model": "x"})
