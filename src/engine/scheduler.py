"""Per-step learning-rate arrays: linear warmup, then cosine, linear, steps, poly or staircase decay.

Formulas (step i of T, W warmup steps), as in the model zoo:
  warmup    lr_init + (lr_max - lr_init) * i / W
  cosine    lr_end + (lr_max - lr_end) * (1 + cos(pi * (i - W) / (T - W))) / 2
  linear    lr_max - (lr_max - lr_end) * (i - W) / (T - W)
  poly      lr_end + (lr_max - lr_end) * (1 - (i - W) / (T - W)) ** power
  steps     lr_max times 1, 0.1, 0.01, 0.001 from 0, 30, 60 and 80% of all steps (after warmup)
  staircase lr_max * decay_rate ** floor(i / D), D = decay_epochs x steps per epoch (after warmup): the
            "0.973 every 2.4 epochs" of the MobileNet / EfficientNet / GhostNetV2 recipes, counted from the first
            step as timm's step scheduler does with its default warmup_prefix=False (timm steps it once per
            epoch, at floor(epoch / 2.4); TensorFlow's staircase exponential decay and this array change mid-epoch
            at the exact step); lr_end is not used
  constant  lr_max
"""
import math

import numpy as np

DECAY_MODES = ("cosine", "linear", "poly", "steps", "staircase", "constant")


def build_lr_schedule(lr_max: float, total_steps: int, warmup_steps: int = 0, lr_init: float = 0.0,
                      lr_end: float = 0.0, mode: str = "cosine", power: float = 2.0, decay_rate: float = 0.973,
                      decay_period: float = 1.0) -> np.ndarray:
    """The learning rate for each of `total_steps` optimizer steps, as float32 (`decay_rate` and `decay_period`, a
    number of steps that may be fractional, are the staircase's)."""
    if mode not in DECAY_MODES:
        raise ValueError(f"unknown lr decay mode '{mode}'; known: {', '.join(DECAY_MODES)}")
    if total_steps < 1:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    if not 0 <= warmup_steps <= total_steps:
        raise ValueError(f"warmup_steps must be in [0, {total_steps}], got {warmup_steps}")
    if mode == "staircase" and not (0 < decay_rate <= 1 and decay_period > 0):
        raise ValueError(f"the staircase decay needs 0 < decay_rate <= 1 and a positive decay period, got rate "
                         f"{decay_rate} every {decay_period} steps")
    decay_steps = max(1, total_steps - warmup_steps)
    boundaries = [0.3 * total_steps, 0.6 * total_steps, 0.8 * total_steps]
    lrs = np.empty(total_steps, dtype=np.float64)
    for i in range(total_steps):
        if i < warmup_steps:
            lrs[i] = lr_init + (lr_max - lr_init) * i / warmup_steps
            continue
        progress = (i - warmup_steps) / decay_steps
        if mode == "cosine":
            lrs[i] = lr_end + (lr_max - lr_end) * (1 + math.cos(math.pi * progress)) / 2
        elif mode == "linear":
            lrs[i] = lr_max - (lr_max - lr_end) * progress
        elif mode == "poly":
            lrs[i] = lr_end + (lr_max - lr_end) * (1 - progress) ** power
        elif mode == "steps":
            lrs[i] = lr_max * 0.1 ** sum(i >= b for b in boundaries)
        elif mode == "staircase":
            lrs[i] = lr_max * decay_rate ** math.floor(i / decay_period + 1e-9)  # 2.4 x 10 steps: 24, not 23.99..
        else:
            lrs[i] = lr_max
    return lrs.astype(np.float32)


def create_scheduler(steps_per_epoch: int, epochs: int, *, lr_max: float, lr_init: float = 0.0, lr_end: float = 0.0,
                     warmup_epochs: float = 0.0, decay_mode: str = "cosine", power: float = 2.0,
                     lr_scale: float = 1.0, decay_rate: float = 0.973, decay_epochs: float = 2.4) -> np.ndarray:
    """The per-step learning rates of `epochs` epochs of `steps_per_epoch` steps; `lr_scale` multiplies lr_init,
    lr_max and lr_end (linear scaling with the global batch); the staircase decays by `decay_rate` every
    `decay_epochs` epochs."""
    return build_lr_schedule(lr_max * lr_scale, epochs * steps_per_epoch, int(warmup_epochs * steps_per_epoch),
                             lr_init * lr_scale, lr_end * lr_scale, decay_mode, power, decay_rate,
                             decay_epochs * steps_per_epoch)
