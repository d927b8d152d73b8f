"""The evaluation resize when the crop size is overridden above the layer that set it, and a resize below the crop."""
import logging

import pytest

from src.data.preprocessing import resolve_preprocessing
from src.models import get_default_cfg

RECIPE = {"image_size": 224, "eval_resize": 256}


def test_image_size_over_a_recipe_keeps_the_recipes_ratio(caplog):
    cfg = get_default_cfg("ghostnet_100")
    log = logging.getLogger("ghostzoo")  # setup_logging stops it propagating to caplog's root handler
    log.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="ghostzoo"):
            pre = resolve_preprocessing(cfg, {"image_size": 32}, RECIPE)
    finally:
        log.removeHandler(caplog.handler)
    assert pre.image_size == 32 and pre.eval_resize == round(32 * 256 / 224)
    assert "eval_resize 37: image_size 32 overrides 224" in caplog.text


def test_resize_without_its_own_image_size_is_for_the_models_input_size():
    cfg = get_default_cfg("ghostnet_100")
    pre = resolve_preprocessing(cfg, {"image_size": 112}, {"eval_resize": 2 * cfg.input_size})
    assert pre.eval_resize == 224


def test_values_of_one_layer_or_a_higher_resize_are_kept():
    cfg = get_default_cfg("ghostnet_100")
    assert resolve_preprocessing(cfg, {"image_size": 64, "eval_resize": 64}, RECIPE).eval_resize == 64
    assert resolve_preprocessing(cfg, {"eval_resize": 300}, RECIPE).eval_resize == 300
    assert resolve_preprocessing(cfg, RECIPE).eval_resize == 256
    assert resolve_preprocessing(cfg, {"image_size": 160}).eval_resize == round(160 / cfg.crop_fraction)


def test_resize_below_the_crop_is_refused():
    cfg = get_default_cfg("ghostnet_100")
    with pytest.raises(ValueError, match="eval_resize 200 is below image_size 224"):
        resolve_preprocessing(cfg, {"eval_resize": 200}, RECIPE)
