"""Where our depthwise kernels beat MindSpore's convolution on CPU, by measurement (docs/kernels.md).

`WINS` lists (kernel h, kernel w, stride h, stride w, dilation h, dilation w, map height, map width, kind) for which
`python -m src.kernels.bench` timed ours faster (kind "eval": forward; "train": forward and backward). Regenerate
it with `python -m src.kernels.bench --table` on a quiet machine and paste the printed tuple here.
"""

# python -m src.kernels.bench --shapes net --rounds 2 --iters 3 --table (docs/kernels.md)
WINS = (
    (3, 3, 1, 1, 1, 1, 112, 112, 'eval'),
    (3, 3, 1, 1, 1, 1, 112, 112, 'train'),
    (3, 3, 1, 1, 1, 1, 56, 56, 'eval'),
    (3, 3, 1, 1, 1, 1, 56, 56, 'train'),
    (3, 3, 1, 1, 1, 1, 28, 28, 'eval'),
    (3, 3, 1, 1, 1, 1, 28, 28, 'train'),
    (3, 3, 1, 1, 1, 1, 14, 14, 'eval'),
    (3, 3, 1, 1, 1, 1, 14, 14, 'train'),
    (3, 3, 1, 1, 1, 1, 7, 7, 'eval'),
    (3, 3, 1, 1, 1, 1, 7, 7, 'train'),
    (3, 3, 2, 2, 1, 1, 112, 112, 'eval'),
    (3, 3, 2, 2, 1, 1, 112, 112, 'train'),
    (3, 3, 2, 2, 1, 1, 56, 56, 'eval'),
    (3, 3, 2, 2, 1, 1, 56, 56, 'train'),
    (3, 3, 2, 2, 1, 1, 28, 28, 'eval'),
    (3, 3, 2, 2, 1, 1, 28, 28, 'train'),
    (3, 3, 2, 2, 1, 1, 14, 14, 'eval'),
    (3, 3, 2, 2, 1, 1, 14, 14, 'train'),
    (5, 5, 1, 1, 1, 1, 28, 28, 'eval'),
    (5, 5, 1, 1, 1, 1, 28, 28, 'train'),
    (5, 5, 1, 1, 1, 1, 14, 14, 'eval'),
    (5, 5, 1, 1, 1, 1, 14, 14, 'train'),
    (5, 5, 1, 1, 1, 1, 7, 7, 'eval'),
    (5, 5, 1, 1, 1, 1, 7, 7, 'train'),
    (5, 5, 2, 2, 1, 1, 56, 56, 'eval'),
    (5, 5, 2, 2, 1, 1, 56, 56, 'train'),
    (5, 5, 2, 2, 1, 1, 14, 14, 'eval'),
    (5, 5, 2, 2, 1, 1, 14, 14, 'train'),
    # python -m src.kernels.bench --shapes dfc --rounds 3 --iters 5 --table: GhostNetV2's DFC attention convs
    (1, 5, 1, 1, 1, 1, 28, 28, 'eval'),
    (1, 5, 1, 1, 1, 1, 28, 28, 'train'),
    (5, 1, 1, 1, 1, 1, 28, 28, 'eval'),
    (5, 1, 1, 1, 1, 1, 28, 28, 'train'),
    (1, 5, 1, 1, 1, 1, 14, 14, 'eval'),
    (1, 5, 1, 1, 1, 1, 14, 14, 'train'),
    (5, 1, 1, 1, 1, 1, 14, 14, 'eval'),
    (5, 1, 1, 1, 1, 1, 14, 14, 'train'),
    (1, 5, 1, 1, 1, 1, 7, 7, 'eval'),
    (1, 5, 1, 1, 1, 1, 7, 7, 'train'),
    (5, 1, 1, 1, 1, 1, 7, 7, 'eval'),
    (5, 1, 1, 1, 1, 1, 7, 7, 'train'),
    (1, 5, 1, 1, 1, 1, 3, 3, 'eval'),
    (1, 5, 1, 1, 1, 1, 3, 3, 'train'),
    (5, 1, 1, 1, 1, 1, 3, 3, 'eval'),
    (5, 1, 1, 1, 1, 1, 3, 3, 'train'),
)


def kernel_wins(key, shape, training) -> bool:
    """Whether the table lists the conv geometry `key` (kh, kw, sh, sw, dh, dw) on an input of `shape` (N, C, H, W)
    for a training or an inference graph."""
    kind = "train" if training else "eval"
    return key + (shape[2], shape[3], kind) in WINS
