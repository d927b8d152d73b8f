"""Writing outputs (src/outputs.py): a failed checkpoint write names the path and the cause and leaves nothing."""
import errno
import os

import numpy as np
import pytest


@pytest.mark.slow
@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EROFS])
def test_failed_checkpoint_write_names_path_and_cause(tmp_path, err):
    """The writer's failure (here: no space / a read-only file system, raised half-way) is reported with the path
    and the cause, and the half-written file is removed."""
    import mindspore as ms
    from src.errors import OutputError
    from src.outputs import atomic_save_checkpoint

    def half_then_fail(obj, path, **kwargs):
        with open(path, "wb") as f:
            f.write(b"\0" * 100)
        raise OSError(err, os.strerror(err))
    target = tmp_path / "net.ckpt"
    with pytest.raises(OutputError) as info:
        atomic_save_checkpoint([{"name": "w", "data": ms.Tensor(np.ones(3, np.float32))}], str(target),
                               saver=half_then_fail)
    message = str(info.value)
    assert str(target) in message
    assert ("no space left" if err == errno.ENOSPC else "read-only file system") in message
    assert os.listdir(tmp_path) == []
