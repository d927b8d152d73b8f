"""Where our depthwise kernels beat MindSpore's convolution on CPU, by measurement (docs/kernels.md).

`WINS` lists (kernel h, kernel w, stride h, stride w, dilation h, dilation w, map height, map width, kind) for which
`python -m src.kernels.bench` timed ours faster (kind "eval": forward; "train": forward and backward). Regenerate
it with `python -m src.kernels.bench --table` on a quiet machine and paste the printed tuple here.
"""

WINS = ()


def kernel_wins(key, shape, training) -> bool:
    """Whether the table lists the conv geometry `key` (kh, kw, sh, sw, dh, dw) on an input of `shape` (N, C, H, W)
    for a training or an inference graph."""
    kind = "train" if training else "eval"
    return key + (shape[2], shape[3], kind) in WINS
