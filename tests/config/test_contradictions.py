"""Values that contradict each other are refused with both named."""
import pytest

from tests.support import build_config
from src.errors import ConfigError


@pytest.mark.parametrize("args, message", [
    (["--lr_max", "0.1", "--lr_end", "0.2"], r"lr_max \(0.1\) is the peak .* lr_end 0.2"),
    (["--lr_max", "0.1", "--lr_init", "0.5"], r"lr_max \(0.1\) is the peak .*lr_init is 0.5"),
])
def test_lr_schedule_above_its_peak_is_refused(args, message):
    with pytest.raises(ConfigError, match=message):
        build_config(args)


def test_schedule_ending_at_its_peak_is_accepted():
    cfg = build_config(["--lr_max", "0.1", "--lr_init", "0.1", "--lr_end", "0.1", "--lr_decay_mode", "constant"])
    assert cfg.lr_end == cfg.lr_max
