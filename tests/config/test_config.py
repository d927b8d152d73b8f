"""Config layering, unknown keys, types, the model zoo's and MindCV's option names, the saved effective config and
--help."""
import glob
import os

import pytest
import yaml

from src.config import Config, build_parser, keys_of, parse_config, save_config
from src.errors import ConfigError
from tests.support import ROOT, build_config


def test_layering_defaults_yaml_cli(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: ghostnet_050\nbatch_size: 64\nlr_max: 0.4\nweight_decay: 4e-5\n")
    cfg = build_config(["--config", str(recipe), "--batch_size", "8", "--mean=0.5,0.5,0.5"])
    assert cfg.model == "ghostnet_050" and cfg.lr_max == 0.4      # from YAML
    assert cfg.weight_decay == 4e-5                                 # YAML 1.1 reads 4e-5 as a string
    assert cfg.batch_size == 8                                     # command line wins
    assert cfg.mean == [0.5, 0.5, 0.5]
    assert cfg.epoch_size == 90                                    # default
    assert (cfg.source("model"), cfg.source("batch_size"), cfg.source("epoch_size")) == \
        ("recipe", "command line", "default")
    assert cfg.from_command_line("batch_size") and not cfg.from_command_line("lr_max")


def test_unknown_yaml_key_names_close_match(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("batch_sise: 64\n")
    with pytest.raises(ConfigError, match="unknown config key 'batch_sise'.*did you mean batch_size"):
        build_config(["--config", str(recipe)])


def test_unknown_cli_key():
    with pytest.raises(ConfigError, match="unknown config key 'lr_maxx'.*lr_max"):
        build_config(["--lr_maxx", "1"])


@pytest.mark.parametrize("args,match", [
    (["--batch_size", "many"], "batch_size.*expected an integer, got 'many'"),
    (["--lr_decay_mode", "cosin"], "lr_decay_mode.*cosine"),
    (["--batch_size", "0"], "batch_size.*at least 1"),
    (["--nesterov", "maybe"], "nesterov.*expected true or false"),
    (["--batch_size"], "argument --batch_size: expected one argument"),
    (["--data_path", "--epoch_size", "3"], "argument --data_path: expected one argument"),
    (["positional"], "unexpected argument 'positional'"),
    (["--lr_max", "-0.1"], "lr_max must be positive"),
    (["--lr_max", "nan"], "lr_max.*finite number"),
    (["--lr_init", "inf"], "lr_init.*finite number"),
    (["--lr_end", "-1"], "lr_end.*must not be negative"),
    (["--weight_decay=-1e-4"], "weight_decay.*must not be negative"),
    (["--mean", "0.5,0.5"], "mean.*expected 3 numbers"),
    (["--crop_ratio", "2,1"], "crop_ratio.*low <= high"),
    (["--image_check", "full"], "image_check.*one of none, structure, decode"),
])
def test_bad_values(args, match):
    with pytest.raises(ConfigError, match=match):
        build_config(args)


def test_yaml_values_are_checked_like_command_line_ones(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("epoch_size: ten\n")
    with pytest.raises(ConfigError, match=r"epoch_size' in '.*r.yaml': expected an integer, got 'ten'"):
        build_config(["--config", str(recipe)])


def test_signature_is_the_older_name_of_the_structure_check():
    assert build_config(["--image_check", "signature"]).image_check == "structure"


def test_missing_config_file():
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        build_config(["--config", "nope.yaml"])


def test_saved_config_round_trips(tmp_path):
    cfg = build_config(["--model", "ghostnet_130", "--warmup_epochs", "2", "--crop_ratio", "0.5,2"])
    save_config(cfg, str(tmp_path / "out" / "config.yaml"))
    again = build_config(["--config", str(tmp_path / "out" / "config.yaml")])
    assert again.to_dict() == cfg.to_dict()
    assert yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())["model"] == "ghostnet_130"


def test_every_recipe_loads():
    from src.models import is_model
    recipes = glob.glob(os.path.join(ROOT, "configs", "*.yaml"))
    assert recipes
    for path in recipes:
        cfg = build_config(["--config", path])
        assert is_model(cfg.model), path


def test_help_explains_every_key_with_allowed_values_by_section():
    text = " ".join(build_parser("train.py", "Train.").format_help().split())
    for key in keys_of("train"):
        assert f"--{key.name}" in text, key.name
    for section in ("model:", "data:", "augmentation (training only):", "optimisation:", "run:"):
        assert section in text
    assert "one of cosine | linear | poly | steps | staircase | constant" in text
    assert "(default: 0.9999)" in text  # ema_decay


def test_a_recipe_serves_every_script(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: ghostnet_050\nimage_size: 48\nepoch_size: 3\n")
    cfg, _ = parse_config(["--config", str(recipe)], "export.py", script="export")
    assert cfg.set_by("recipe", ("model", "image_size")) == {"model": "ghostnet_050", "image_size": 48}


def test_replace_validates():
    cfg = build_config([])
    assert cfg.replace(num_classes=5).num_classes == 5
    with pytest.raises(ConfigError, match="num_classes.*at least 1"):
        cfg.replace(num_classes=0)


def test_script_options_come_back_separately():
    cfg, own = parse_config(["--epoch_size", "3", "--harness_args", "yes"],
                            extra=[(["--harness_args"], {"default": "no"})])
    assert cfg.epoch_size == 3 and own.harness_args == "yes"
    assert isinstance(cfg, Config)


@pytest.mark.slow
def test_seed_option_names_and_a_contradiction(tmp_path):
    from src.config import parse_config
    from src.errors import ConfigError
    cfg, _ = parse_config(["--dataset_path", "/d", "--class_num", "5", "--dataset", "imagenet2012",
                           "--run_distribute", "False", "--decay_mode", "poly", "--label_smooth", "0.2",
                           "--use_label_smooth", "False", "--save_checkpoint_path", "/o", "--pre_trained", "p.ckpt"])
    assert (cfg.data_path, cfg.num_classes, cfg.dataset, cfg.distribute) == ("/d", 5, "imagenet", "false")
    assert parse_config(["--ckpt_file", "c.ckpt"], "eval.py", script="eval")[0].checkpoint_path == "c.ckpt"
    assert (cfg.lr_decay_mode, cfg.label_smooth_factor, cfg.use_label_smooth, cfg.output_dir, cfg.pretrained_ckpt) == \
        ("poly", 0.2, False, "/o", "p.ckpt")
    with pytest.raises(ConfigError, match="gives both data_path = '/a' and dataset_path = '/b'"):
        parse_config(["--data_path", "/a", "--dataset_path", "/b"])
    recipe = tmp_path / "zoo.yaml"
    recipe.write_text("class_num: 10\nnum_classes: 11\n")
    with pytest.raises(ConfigError, match="num_classes = 11 and class_num = 10|class_num = 10 and num_classes = 11"):
        parse_config(["--config", str(recipe)])
