"""Decode many in-memory images with MindSpore's decoder in forked child processes, so that a decoder crash
(a signal) or hang costs one child, not the caller: used by image_sweep.py.

The parent imports MindSpore once and forks a child per batch; the child decodes every image of its batch with
`vision.Decode` (the evaluation pipeline's op) and `vision.RandomCropDecodeResize` (the training pipeline's) and
writes one line per image to a pipe. When a child dies by a signal, the first image it had not reported is
recorded as "crash:<SIGNAL>" and a new child is forked from the next image; when it reports nothing for
`timeout` seconds, it is killed and the image recorded as "hang".
"""
import os
import select
import signal
import time
from typing import Callable, Dict, List, Optional, Sequence

OK, ERROR, HANG = "ok", "error", "hang"


def _decode_all(images: Sequence[bytes], first: int, write_fd: int) -> None:
    """Child: decode images[first:] and report '<index> <outcome>' lines; never returns."""
    import faulthandler
    import numpy as np
    import mindspore.dataset as ds
    faulthandler.disable()  # a crash is the expected outcome here, not worth a traceback
    import mindspore.dataset.vision as vision
    ds.config.set_seed(0)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # the decoder's warnings ("Corrupt JPEG data: ...") for every damaged file
    ops = (vision.Decode(), vision.RandomCropDecodeResize(32))
    for i in range(first, len(images)):
        outcome = OK
        array = np.frombuffer(images[i], np.uint8)
        for op in ops:
            try:
                op(array)
            except Exception:  # the decoder's RuntimeError / ValueError for a file it rejects
                outcome = ERROR
                break
        os.write(write_fd, f"{i} {outcome}\n".encode())
    os._exit(0)


def _fork(images: Sequence[bytes], first: int):
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            _decode_all(images, first, write_fd)
        finally:
            os._exit(3)
    os.close(write_fd)
    return pid, read_fd


def _finish(pid: int, read_fd: int, kill: bool) -> Optional[str]:
    """Reap the child; its fate as 'crash:SIGNAME', or None when it exited normally."""
    if kill:
        os.kill(pid, signal.SIGKILL)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) and not kill:
        return "crash:" + signal.Signals(os.WTERMSIG(status)).name
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) != 0:
        return f"crash:exit{os.WEXITSTATUS(status)}"
    return None


def decode_batch(images: Sequence[bytes], timeout: float = 20.0,
                 progress: Optional[Callable[[int], None]] = None) -> List[str]:
    """The decoder's outcome for every image: 'ok', 'error', 'crash:<SIGNAL>' or 'hang'."""
    outcomes: Dict[int, str] = {}
    first = 0
    while first < len(images):
        pid, read_fd = _fork(images, first)
        buffer, last = b"", time.monotonic()
        while True:
            ready, _, _ = select.select([read_fd], [], [], 1.0)
            chunk = os.read(read_fd, 65536) if ready else None
            if chunk:
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    index, outcome = line.split()
                    outcomes[int(index)] = outcome.decode()
                    first = int(index) + 1
                    if progress:
                        progress(1)
                last = time.monotonic()
            elif chunk == b"":  # the child closed its pipe: done or died
                fate = _finish(pid, read_fd, kill=False)
                if first < len(images):
                    outcomes[first] = fate or "crash:exit0"
                    first += 1
                    if progress:
                        progress(1)
                break
            elif time.monotonic() - last > timeout:
                _finish(pid, read_fd, kill=True)
                outcomes[first] = HANG
                first += 1
                if progress:
                    progress(1)
                break
    return [outcomes[i] for i in range(len(images))]
