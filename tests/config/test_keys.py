"""The key table: each script takes its own keys (its --help lists only those), bounds live on the key, and a
script's variant of a shared key (export's batch size) keeps its own default and interval."""
import pytest

from src.config import KEYS, keys_of, parse_config
from src.config.keys import ALL_SCRIPTS, SCRIPT_NAMES
from src.errors import ConfigError


def _help(script, capsys):
    with pytest.raises(SystemExit):
        parse_config(["--help"], f"{script}.py", script=script)
    return capsys.readouterr().out


def test_each_script_help_lists_only_its_keys(capsys):
    train, evaluation = _help("train", capsys), _help("eval", capsys)
    assert "--epoch_size" in train and "--epoch_size" not in evaluation
    assert "--confusion" in evaluation and "--confusion" not in train
    assert "--file_format" in _help("export", capsys) and "--file_format" not in evaluation
    assert "--top_k" in _help("predict", capsys)


def test_every_key_is_taken_by_some_script_and_every_script_has_keys():
    assert all(key.used_by and set(key.used_by) <= set(ALL_SCRIPTS) for key in KEYS)
    assert all(keys_of(script) for script in SCRIPT_NAMES)


def test_a_key_of_another_script_is_checked_then_ignored_with_a_note(capsys):
    cfg, _ = parse_config(["--epoch_size", "3", "--batch_size", "5"], "eval.py", script="eval")
    assert cfg.epoch_size == 90 and cfg.batch_size == 5
    assert ("eval.py: note: ignoring --epoch_size: not an option of eval.py / validate.py (but of train.py / "
            "fine_tune.py)") in capsys.readouterr().err
    with pytest.raises(ConfigError, match="--epoch_size must be at least 1"):
        parse_config(["--epoch_size", "0"], "eval.py", script="eval")
    with pytest.raises(ConfigError, match="unknown config key 'epoch_sise'.*epoch_size"):
        parse_config(["--epoch_sise", "3"])


@pytest.mark.parametrize("argv, message", [
    (["--drop_rate", "1"], r"--drop_rate must be in \[0, 1\), got 1.0"),
    (["--min_scale", "0"], r"--min_scale must be in \(0, 1\], got 0.0"),
    (["--hflip", "1.5"], r"--hflip must be in \[0, 1\], got 1.5"),
    (["--batch_size", "0"], "--batch_size must be at least 1, got 0"),
    (["--randaug_magnitude", "31"], r"--randaug_magnitude must be in \[0, 30\], got 31"),
    (["--device_num", "-1"], "--device_num must not be negative, got -1"),
])
def test_bounds_on_the_key(argv, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(argv)


def test_bounds_of_a_recipe_value_name_the_key(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("kd_temperature: 0\n")
    with pytest.raises(ConfigError, match="config key 'kd_temperature' must be positive, got 0.0"):
        parse_config(["--config", str(recipe)])


def test_a_script_variant_keeps_its_own_default_and_interval():
    export_cfg, _ = parse_config(["--batch_size", "0"], "export.py", script="export")
    assert export_cfg.batch_size == 0
    assert parse_config([], "export.py", script="export")[0].batch_size == 1
    predict_cfg, own = parse_config(["a.jpg"], "predict.py", extra=[(("inputs",), {"nargs": "+"})], script="predict")
    assert predict_cfg.batch_size == 32 and own.inputs == ["a.jpg"]
    with pytest.raises(ConfigError, match="--batch_size must be at least 1"):
        parse_config(["--batch_size", "0"])
    with pytest.raises(ConfigError, match="--batch_size must not be negative"):
        parse_config(["--batch_size", "-1"], "export.py", script="export")


def test_a_recipe_batch_size_is_the_training_batch_not_the_exported_graphs(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("batch_size: 128\nimage_size: 48\n")
    export_cfg, _ = parse_config(["--config", str(recipe)], "export.py", script="export")
    assert export_cfg.batch_size == 1 and export_cfg.image_size == 48
    assert parse_config(["--config", str(recipe)])[0].batch_size == 128
