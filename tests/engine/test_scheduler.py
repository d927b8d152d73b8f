"""The lr schedules (src/engine/scheduler.py) against hand-computed values."""
import math

import numpy as np
import pytest

from src.engine.scheduler import build_lr_schedule


def test_warmup_then_cosine():
    lr = build_lr_schedule(0.4, total_steps=10, warmup_steps=2, lr_init=0.1, lr_end=0.0, mode="cosine")
    assert lr[0] == pytest.approx(0.1) and lr[1] == pytest.approx(0.25)  # 0.1 + 0.3 * 1/2
    assert lr[2] == pytest.approx(0.4)
    assert lr[6] == pytest.approx(0.4 * (1 + math.cos(math.pi * 4 / 8)) / 2)  # = 0.2
    assert lr[9] == pytest.approx(0.4 * (1 + math.cos(math.pi * 7 / 8)) / 2, rel=1e-5)
    assert lr.dtype == np.float32 and len(lr) == 10


def test_linear_decay():
    lr = build_lr_schedule(0.8, total_steps=4, mode="linear", lr_end=0.0)
    np.testing.assert_allclose(lr, [0.8, 0.6, 0.4, 0.2], rtol=1e-6)


def test_poly_decay_with_warmup():
    lr = build_lr_schedule(0.1, total_steps=6, warmup_steps=2, lr_init=0.01, lr_end=0.0, mode="poly", power=2)
    np.testing.assert_allclose(lr, [0.01, 0.055, 0.1, 0.1 * 0.75 ** 2, 0.1 * 0.25, 0.1 * 0.0625], rtol=1e-6)


def test_steps_decay():
    lr = build_lr_schedule(1.0, total_steps=10, mode="steps")
    np.testing.assert_allclose(lr, [1, 1, 1, .1, .1, .1, .01, .01, .001, .001], rtol=1e-6)


def test_unknown_mode():
    with pytest.raises(ValueError, match="unknown lr decay mode 'cosin'"):
        build_lr_schedule(0.1, 10, mode="cosin")


def test_staircase_decay_every_fractional_period():
    """0.5 every 2.5 epochs of 2 steps (a period of 5 steps), after a 2-step warmup from 0.01; the staircase counts
    from the first step, warmup included (timm's step scheduler with warmup_prefix=False)."""
    lr = build_lr_schedule(0.4, total_steps=12, warmup_steps=2, lr_init=0.01, mode="staircase", decay_rate=0.5,
                           decay_period=2.5 * 2)
    np.testing.assert_allclose(lr, [0.01, 0.205, 0.4, 0.4, 0.4, 0.2, 0.2, 0.2, 0.2, 0.2, 0.1, 0.1], rtol=1e-6)


def test_staircase_of_the_ghostnetv2_recipe():
    """0.064 x 0.973 every 2.4 epochs: at 10 steps per epoch the period is exactly 24 steps (not 23.99...)."""
    from src.engine.scheduler import create_scheduler
    lr = create_scheduler(10, 48, lr_max=0.064, decay_mode="staircase", decay_rate=0.973, decay_epochs=2.4)
    assert len(lr) == 480
    assert lr[23] == pytest.approx(0.064) and lr[24] == pytest.approx(0.064 * 0.973)
    assert lr[479] == pytest.approx(0.064 * 0.973 ** 19, rel=1e-6)  # floor(479 / 24) = 19
    with pytest.raises(ValueError, match="staircase decay needs 0 < decay_rate <= 1"):
        build_lr_schedule(0.1, 10, mode="staircase", decay_rate=0.0, decay_period=3)
