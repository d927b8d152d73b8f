"""Our networks under MindSpore: inference, training steps and ONNX export, each timed on in-memory data.

Inference is the eval-mode network in graph mode, prepared as eval.py prepares it (re-parameterised, BatchNorm
folded into the convolutions, `deploy_form`). A training step is what `ms.Model` runs per batch: the network
`mindspore.amp.build_train_network` builds (forward, loss, backward, Momentum update; at amp level O0 a
`TrainOneStepCell` around the network with its loss), here on one random batch kept in memory so that only the
network is timed. `compile_s` is the graph compilation (`Cell.compile`), timed on its own.
"""
import time
from typing import Dict

import numpy as np

from .timing import peak_rss_mb, time_steps

LABEL_SMOOTHING = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 1e-5
LEARNING_RATE = 0.01


def _setup(device_target: str, num_threads: int) -> str:
    """Graph mode on `device_target` (the library's own set-up, as train.py and eval.py do); the device used."""
    import mindspore as ms
    from ..runtime import setup_runtime
    runtime = setup_runtime(device_target, mode="graph", seed=1, distribute="false")
    if num_threads > 0 and runtime.device_target == "CPU":
        from ..kernels.depthwise import set_threads
        ms.device_context.cpu.op_tuning.threads_num(num_threads)
        set_threads(num_threads)  # our depthwise kernels on the same threads as MindSpore's
    return runtime.device_target


def _inputs(batch_size: int, image_size: int, num_classes: int):
    import mindspore as ms
    rng = np.random.default_rng(0)
    images = ms.Tensor(rng.standard_normal((batch_size, 3, image_size, image_size), dtype=np.float32))
    labels = ms.Tensor(rng.integers(0, num_classes, batch_size).astype(np.int32))
    return images, labels


def _device_memory_mb(device_target: str):
    """Peak memory the device's pool handed out (GPU / Ascend); None on CPU, where MindSpore reports none."""
    if device_target == "CPU":
        return None
    import mindspore as ms
    return ms.runtime.max_memory_allocated() / 2 ** 20


def _model_facts(net, image_size: int) -> Dict:
    from ..models import count_macs, count_params
    return {"params": count_params(net), "macs": count_macs(net, image_size)}


def create_network(model: str, image_size: int, checkpoint: str = ""):
    """`model` with random weights, or, given `checkpoint`, the network it holds with its weights (its own class
    count and model options); training form: deployment is the caller's."""
    from ..models import create_model
    if not checkpoint:
        return create_model(model, num_classes=1000, image_size=image_size)
    from ..engine.checkpoint import load_opened, open_checkpoint
    opened = open_checkpoint(checkpoint, model)
    net = create_model(opened.model, num_classes=opened.num_classes, image_size=image_size, **opened.model_kwargs)
    load_opened(net, opened)
    net.num_classes = opened.num_classes
    return net


def _classes(net) -> int:
    return getattr(net, "num_classes", 1000)


def bench_infer(model: str, batch_size: int, image_size: int, warmup: int, iters: int, amp_level: str = "O0",
                device_target: str = "auto", num_threads: int = 0, checkpoint: str = "") -> Dict:
    """Eval-mode forward passes of `model` (or of the network `checkpoint` holds) on one in-memory batch."""
    import mindspore as ms
    target = _setup(device_target, num_threads)
    from ..models import deploy_form
    from ..runtime import compile_first
    net = create_network(model, image_size, checkpoint)
    deploy_form(net)  # the form eval.py, predict.py and export.py run
    images, _ = _inputs(batch_size, image_size, _classes(net))
    runner = net if amp_level == "O0" else ms.amp.auto_mixed_precision(net, amp_level)
    start = time.perf_counter()
    compile_first(runner, (images,))  # as evaluation and prediction do: compiled, then released
    compile_s = time.perf_counter() - start
    times = time_steps(lambda: runner(images).asnumpy(), warmup, iters)
    result = dict(times.summary(batch_size), compile_s=compile_s, peak_rss_mb=peak_rss_mb(),
                  device_mem_mb=_device_memory_mb(target), device=target)
    # Counted after the peak is read, as the reference counts its own: count_macs runs a PyNative forward pass,
    # whose memory MindSpore keeps (about 70 MB of ghostnet_d_101's figure). On the training form, as before.
    result.update(_model_facts(create_network(model, image_size, checkpoint), image_size))
    return result


def train_network(net, target: str, amp_level: str, loss_scale: float, steps: int):
    """(the training-step cell ms.Model would build for `net`: loss, backward, Momentum over `steps` steps, in
    training mode; the amp level used)."""
    import mindspore as ms
    from ..engine.loss import create_loss
    from ..engine.optim import create_optimizer, resolve_amp
    level, manager, optimizer_scale = resolve_amp(amp_level, target, loss_scale)
    optimizer = create_optimizer(net, np.full(steps, LEARNING_RATE, np.float32), name="momentum",
                                 momentum=MOMENTUM, weight_decay=WEIGHT_DECAY, loss_scale=optimizer_scale)
    loss_fn = create_loss(LABEL_SMOOTHING, _classes(net))
    kwargs = {"loss_scale_manager": manager} if manager is not None else {}
    train_net = ms.amp.build_train_network(net, optimizer, loss_fn, level=level, **kwargs)
    train_net.set_train(True)
    return train_net, level


def bench_train(model: str, batch_size: int, image_size: int, warmup: int, iters: int, amp_level: str = "O0",
                device_target: str = "auto", num_threads: int = 0, loss_scale: float = 1024.0,
                checkpoint: str = "") -> Dict:
    """Training steps of `model` (or of the network `checkpoint` holds: fine-tuning its weights; forward + backward
    + Momentum update) on one in-memory batch."""
    from ..runtime import compile_first
    target = _setup(device_target, num_threads)
    net = create_network(model, image_size, checkpoint)
    train_net, level = train_network(net, target, amp_level, loss_scale, steps=1 + warmup + iters + 1)
    images, labels = _inputs(batch_size, image_size, _classes(net))
    start = time.perf_counter()
    compile_first(train_net, (images, labels))  # as the trainer does
    compile_s = time.perf_counter() - start

    def step():
        out = train_net(images, labels)
        return (out[0] if isinstance(out, tuple) else out).asnumpy()

    times = time_steps(step, warmup, iters)
    result = dict(times.summary(batch_size), compile_s=compile_s, peak_rss_mb=peak_rss_mb(),
                  device_mem_mb=_device_memory_mb(target), device=target, amp_level=level)
    result.update(_model_facts(net, image_size))
    return result


def export_onnx(model: str, path: str, batch_size: int, image_size: int, device_target: str = "auto",
                checkpoint: str = "") -> Dict:
    """Our ONNX export (`export_model`) of `model` for a fixed batch; the file's path and the export seconds."""
    from ..deploy import export_model
    from ..models import deploy_form
    target = _setup(device_target, 0)
    net = create_network(model, image_size, checkpoint)
    deploy_form(net)  # as export.py writes it by default
    start = time.perf_counter()
    written = export_model(net, path, "ONNX", batch_size, image_size, target)
    return {"path": written, "export_s": time.perf_counter() - start}
