"""The reliability tool (src/tools/reliability.py): its final checkpoint comparison."""
import numpy as np
import pytest


@pytest.mark.slow
def test_reliability_comparison_reads_checkpoints_with_a_record(tmp_path):
    """The storm's final comparison covers every numeric entry (optimizer moments too) and skips the model record's
    text, which names the run's own folder."""
    import mindspore as ms
    from src.tools.reliability import _max_difference

    def save(name, weight, moment, record):
        path = str(tmp_path / name)
        ms.save_checkpoint([{"name": "w", "data": ms.Tensor(np.array(weight, np.float32))},
                            {"name": "moments.w", "data": ms.Tensor(np.array(moment, np.float32))}], path,
                           append_dict={"model_record": record, "step_num": 11})
        return path

    a = save("a.ckpt", [1.0, 2.0], [0.5], '{"data_path": "/runs/a"}')
    assert _max_difference(a, save("b.ckpt", [1.0, 2.0], [0.5], '{"data_path": "/runs/b"}')) == 0.0
    assert _max_difference(a, save("c.ckpt", [1.0, 2.0], [0.75], '{"data_path": "/runs/a"}')) == 0.25
    assert _max_difference(a, save("d.ckpt", [1.0, 2.0, 3.0], [0.5], "")) == float("inf")
