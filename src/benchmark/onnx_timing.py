"""onnxruntime latency of an exported file, in a process that loads neither MindSpore nor PyTorch."""
import os
import time
from typing import Dict

import numpy as np

from .timing import peak_rss_mb, time_steps


def bench_onnx(path: str, batch_size: int, image_size: int, warmup: int, iters: int, num_threads: int = 0) -> Dict:
    """Time `session.run` on one random batch (CPU provider, `num_threads` intra-op threads; 0: onnxruntime's
    default); `compile_s` is the session creation (graph optimisation included)."""
    import onnxruntime as ort
    if not os.path.isfile(path):
        raise FileNotFoundError(f"ONNX file '{path}' does not exist")
    options = ort.SessionOptions()
    if num_threads > 0:
        options.intra_op_num_threads = num_threads
    start = time.perf_counter()
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    compile_s = time.perf_counter() - start
    meta = session.get_inputs()[0]
    images = np.random.default_rng(0).standard_normal((batch_size, 3, image_size, image_size), dtype=np.float32)
    times = time_steps(lambda: session.run(None, {meta.name: images}), warmup, iters)
    return dict(times.summary(batch_size), compile_s=compile_s, peak_rss_mb=peak_rss_mb(), device_mem_mb=None,
                device="CPU", output_shape=[d if isinstance(d, int) else str(d)
                                            for d in session.get_outputs()[0].shape])
