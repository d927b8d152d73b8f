"""YAML recipes: a tab or a syntax error is reported with the file, line and column; a key given twice is refused
with both lines (PyYAML alone takes the last value without a word)."""
import pytest

from src.config import load_yaml
from tests.support import build_config
from src.errors import ConfigError


def _write(tmp_path, text):
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return str(path)


def test_tab_is_named_with_its_line_and_column(tmp_path):
    path = _write(tmp_path, "model: ghostnet_050\n\tepoch_size: 3\n")
    with pytest.raises(ConfigError, match=r"recipe.yaml', line 2, column 1: a tab character; YAML does not allow "
                                          r"tabs"):
        load_yaml(path)


def test_syntax_error_names_the_line(tmp_path):
    path = _write(tmp_path, "model: ghostnet_050\nepoch_size: 3\n  lr_max: [0.1\n")
    with pytest.raises(ConfigError, match=r"line 3, column \d+ is not valid YAML: .*lr_max"):
        load_yaml(path)


def test_duplicate_key_is_refused_with_both_lines(tmp_path):
    path = _write(tmp_path, "model: ghostnet_050\nepoch_size: 3\nlr_max: 0.1\nepoch_size: 30\n")
    with pytest.raises(ConfigError, match="gives the key 'epoch_size' twice, on lines 2 and 4"):
        build_config(["--config", path])


def test_a_clean_recipe_loads(tmp_path):
    path = _write(tmp_path, "model: ghostnet_050\nepoch_size: 3\nmean: [0.5, 0.5, 0.5]\n")
    assert build_config(["--config", path]).epoch_size == 3
