"""Speed and memory of the zoo's networks, and of timm + PyTorch doing the same work (benchmark.py drives these).

Each measurement runs in its own process (`worker.py`), so that its peak resident memory is the model's own and no
framework state carries over from one measurement to the next:

- `ours.py`: MindSpore inference (the eval-mode network in graph mode) and training steps (forward + backward +
  Momentum update, the train network `ms.Model` builds), and our ONNX export;
- `reference.py`: the same work with timm + PyTorch, and timm's own ONNX export;
- `onnx_timing.py`: onnxruntime latency of an exported file (no MindSpore or PyTorch in that process);
- `pipeline.py`: images/s of the training and evaluation input pipelines over a folder of JPEGs;
- `timing.py`: the step timer and the process's peak memory;
- `runner.py`: starting a worker and reading its result; `report.py`: the table and the CSV file.
"""
from .report import REFERENCE_MODELS, reference_model
from .runner import WorkerError, run_worker
from .timing import StepTimes, time_steps

__all__ = ["REFERENCE_MODELS", "reference_model", "WorkerError", "run_worker", "StepTimes", "time_steps"]
