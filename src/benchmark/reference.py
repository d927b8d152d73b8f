"""The same work with timm + PyTorch: inference under `torch.no_grad`, a training step (forward, label-smoothed cross
entropy, backward, Momentum SGD step with timm's weight-decay grouping), and timm's own ONNX export.

PyTorch runs with `torch.set_num_threads(num_threads)` (the cores available, by default) in the user's environment:
the worker that runs this takes out what `import src` sets for MindSpore (the AVX2 cap, the passive OpenMP wait
policy; see worker.py), which would reach PyTorch's oneDNN and OpenMP too.
"""
import time
from typing import Dict

from .ours import LABEL_SMOOTHING, LEARNING_RATE, MOMENTUM, WEIGHT_DECAY
from .timing import peak_rss_mb, time_steps


def import_torch(num_threads: int):
    """(timm, torch), torch on `num_threads` threads (0: its default)."""
    from ..timm_reference import import_timm
    timm = import_timm()
    import torch
    if num_threads > 0:
        torch.set_num_threads(num_threads)
    return timm, torch


def create_reference(timm, name: str):
    """timm's `name` with random weights and 1000 classes; ValueError naming timm's close matches if unknown."""
    if name not in timm.list_models():
        close = timm.list_models(f"*{name.split('_')[0]}*")[:8]
        raise ValueError(f"timm {timm.__version__} has no model '{name}'" +
                         (f"; similar: {', '.join(close)}" if close else ""))
    return timm.create_model(name, pretrained=False, num_classes=1000)


def deployed(timm, model):
    """timm's inference form: re-parameterisable branches (GhostNetV3, RepGhost) folded, as ours are for
    inference and export (`timm.utils.model.reparameterize_model`; other networks unchanged)."""
    from timm.utils.model import reparameterize_model
    return reparameterize_model(model)


def _inputs(torch, batch_size: int, image_size: int):
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch_size, 3, image_size, image_size, generator=generator)
    labels = torch.randint(0, 1000, (batch_size,), generator=generator)
    return images, labels


def _model_facts(torch, model, image_size: int) -> Dict:
    """Trainable parameters and the MACs of one image (convolutions and matrix products, FlopCounterMode / 2)."""
    from torch.utils.flop_counter import FlopCounterMode
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(1, 3, image_size, image_size))
    model.train(was_training)
    return {"params": int(params), "macs": int(counter.get_total_flops() // 2)}


def infer_runner(timm, torch, name: str, batch_size: int, image_size: int):
    """(model, step): timm's deployed `name` and one forward pass under `torch.no_grad` of a random batch."""
    model = deployed(timm, create_reference(timm, name).eval())
    images, _ = _inputs(torch, batch_size, image_size)

    def step():
        with torch.no_grad():
            return model(images)
    return model, step


def train_runner(timm, torch, name: str, batch_size: int, image_size: int):
    """(model, step): timm's `name` in training mode and one training step (forward, label-smoothed cross entropy,
    backward, Momentum SGD with timm's weight-decay grouping) on a random batch; the step returns the loss."""
    from timm.optim import create_optimizer_v2
    model = create_reference(timm, name).train()
    optimizer = create_optimizer_v2(model, "momentum", lr=LEARNING_RATE, momentum=MOMENTUM,
                                    weight_decay=WEIGHT_DECAY)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=LABEL_SMOOTHING)
    images, labels = _inputs(torch, batch_size, image_size)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss.item()
    return model, step


def _measure(runner, name: str, batch_size: int, image_size: int, warmup: int, iters: int,
             num_threads: int) -> Dict:
    """Time the steps `runner` (infer_runner / train_runner) makes, then read the peak RSS and count the model."""
    timm, torch = import_torch(num_threads)
    model, step = runner(timm, torch, name, batch_size, image_size)
    times = time_steps(step, warmup, iters)
    result = dict(times.summary(batch_size), compile_s=None, peak_rss_mb=peak_rss_mb(), device_mem_mb=None,
                  device="CPU", threads=torch.get_num_threads())
    result.update(_model_facts(torch, model, image_size))
    return result


def bench_infer(name: str, batch_size: int, image_size: int, warmup: int, iters: int,
                num_threads: int = 0) -> Dict:
    return _measure(infer_runner, name, batch_size, image_size, warmup, iters, num_threads)


def bench_train(name: str, batch_size: int, image_size: int, warmup: int, iters: int,
                num_threads: int = 0) -> Dict:
    return _measure(train_runner, name, batch_size, image_size, warmup, iters, num_threads)


def export_onnx(name: str, path: str, batch_size: int, image_size: int) -> Dict:
    """timm's network exported by `torch.onnx.export` (the TorchScript exporter, which needs no onnxscript) for
    a fixed batch; eval mode, random weights."""
    timm, torch = import_torch(0)
    model = deployed(timm, create_reference(timm, name).eval())
    images, _ = _inputs(torch, batch_size, image_size)
    start = time.perf_counter()
    with torch.no_grad():
        torch.onnx.export(model, images, path, dynamo=False, input_names=["x"], output_names=["logits"])
    return {"path": path, "export_s": time.perf_counter() - start}
