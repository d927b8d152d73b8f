"""Config layering, unknown keys, types and the saved effective config."""
import pytest
import yaml

from src.config import Config, build_config, save_config
from src.errors import ConfigError


def test_layering_defaults_yaml_cli(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: ghostnet_050\nbatch_size: 64\nlr_max: 0.4\n")
    cfg = build_config(["--config", str(recipe), "--batch_size", "8", "--mean=0.5,0.5,0.5"])
    assert cfg.model == "ghostnet_050" and cfg.lr_max == 0.4      # from YAML
    assert cfg.batch_size == 8                                     # command line wins
    assert cfg.mean == [0.5, 0.5, 0.5]
    assert cfg.epoch_size == Config().epoch_size                   # default


def test_unknown_yaml_key_names_close_match(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("batch_sise: 64\n")
    with pytest.raises(ConfigError, match="unknown config key 'batch_sise'.*did you mean batch_size"):
        build_config(["--config", str(recipe)])


def test_unknown_cli_key():
    with pytest.raises(ConfigError, match="unknown config key 'lr_maxx'.*lr_max"):
        build_config(["--lr_maxx", "1"])


@pytest.mark.parametrize("args,match", [
    (["--batch_size", "many"], "batch_size.*expected int"),
    (["--lr_decay_mode", "cosin"], "lr_decay_mode.*cosine"),
    (["--batch_size", "0"], "batch_size.*at least 1"),
    (["--nesterov", "maybe"], "nesterov.*expected bool"),
    (["--batch_size"], "needs a value"),
    (["positional"], "unexpected argument"),
])
def test_bad_values(args, match):
    with pytest.raises(ConfigError, match=match):
        build_config(args)


def test_missing_config_file():
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        build_config(["--config", "nope.yaml"])


def test_saved_config_round_trips(tmp_path):
    cfg = build_config(["--model", "ghostnet_130", "--warmup_epochs", "2"])
    save_config(cfg, str(tmp_path / "out" / "config.yaml"))
    again = build_config(["--config", str(tmp_path / "out" / "config.yaml")])
    assert again == cfg
    assert yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())["model"] == "ghostnet_130"


def test_every_recipe_loads():
    import glob
    import os
    from src.models import is_model
    recipes = glob.glob(os.path.join(os.path.dirname(__file__), "..", "configs", "*.yaml"))
    assert recipes
    for path in recipes:
        cfg = build_config(["--config", path])
        assert is_model(cfg.model), path
