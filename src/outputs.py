"""What a run writes, written so that nothing is lost under faults.

- `atomic_save_checkpoint`: a checkpoint is written aside (`<name>.tmp.ckpt`; MindSpore itself writes that through
  `<name>.tmp.tmp`) and renamed into place, so a killed run never leaves a half-written checkpoint under a real
  name. A failed write (disk full, file-size limit, read-only folder) removes its half-written file and raises an
  `OutputError` naming the path and the cause; the checkpoints written before stay intact.
- `remove_stale_temp_files`: a run removes, at its start, the temp files an earlier killed process of the same
  model left in its checkpoint folder (only names that match this module's temp pattern).
- `RunLock`: one training run per output folder. The lock is an `flock` on `OUTPUT_DIR/train.lock`, which the
  kernel releases when the process dies (even on SIGKILL); the file records the holder's pid, host and start time
  for the message another run gets. A run that ends (normally or with an error) removes the file; one left behind
  was a killed run's.
- `check_new_run`: a new run (no --resume) refuses a folder holding another run's results, so that nothing of that
  run is replaced or mixed with the new one's.
- Every checkpoint is written with a CRC32 of its content (MindSpore's `crc_check`), which reading checks.
"""
import errno
import fcntl
import json
import logging
import os
import re
import socket
import time
from typing import Callable, List, Optional, Sequence

from .errors import OutputError

LOCK_NAME = "train.lock"
TMP_SUFFIX = ".tmp.ckpt"
_CAUSES = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large (the file-size limit, ulimit -f, was reached)",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a path component is a file, not a folder",
    errno.EISDIR: "it is a folder",
}


def describe_os_error(error: BaseException) -> str:
    """A short cause for a failed write: the errno's meaning, else the first line of the message."""
    err = getattr(error, "errno", None)
    if err in _CAUSES:
        return _CAUSES[err]
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:200]


def _remove_quietly(path: str) -> None:
    try:
        os.chmod(path, 0o600)  # MindSpore writes checkpoints read-only
        os.remove(path)
    except OSError:
        pass


def _temp_names(path: str) -> List[str]:
    """Our temp file for `path`, and the one MindSpore's save_checkpoint writes through before renaming."""
    return [path + TMP_SUFFIX, path + ".tmp.tmp"]


def atomic_save_checkpoint(save_obj, path: str, append_dict: Optional[dict] = None,
                           saver: Optional[Callable] = None, choice_func: Optional[Callable] = None) -> None:
    """Write `save_obj` (a Cell or a list of {"name", "data"}) to `path` atomically, with a CRC of its content;
    OutputError on failure. `choice_func(name)`: False leaves that parameter out."""
    if saver is None:
        import mindspore as ms  # here, so that the output checks load without MindSpore (benchmark.py)
        saver = ms.save_checkpoint
    tmp, inner = _temp_names(path)
    for stale in (tmp, inner):
        if os.path.lexists(stale):
            _remove_quietly(stale)
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)  # MindSpore logs its own CRITICAL line for a failed write; ours says more
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        saver(save_obj, tmp, append_dict=append_dict, choice_func=choice_func, crc_check=True)
        if not os.path.isfile(tmp):
            raise OSError(f"MindSpore reported no error but wrote no '{tmp}'")
        os.replace(tmp, path)
    except (OSError, RuntimeError, ValueError) as e:
        for partial in (tmp, inner):
            if os.path.lexists(partial):
                _remove_quietly(partial)
        cause = e
        # MindSpore may wrap the OSError of the write in its own exception
        while getattr(cause, "errno", None) is None and cause.__context__ is not None:
            cause = cause.__context__
        raise OutputError(f"cannot write checkpoint '{path}': {describe_os_error(cause)}; the half-written file "
                          f"was removed, earlier checkpoints are intact") from None
    finally:
        logging.disable(previous)


def atomic_write_text(path: str, text: str) -> None:
    """Write a small text file aside and rename it into place; OutputError naming the path on failure."""
    tmp = path + ".tmp"
    try:
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as e:
        if os.path.lexists(tmp):
            _remove_quietly(tmp)
        raise OutputError(f"cannot write '{path}': {describe_os_error(e)}") from None


def stale_temp_pattern(prefix: str) -> "re.Pattern":
    """Names of the temp files this project writes for checkpoints of `prefix` (the model name)."""
    return re.compile(rf"^{re.escape(prefix)}[-_.].*\.tmp(\.ckpt|\.tmp)?$")


def remove_stale_temp_files(directory: str, prefix: str) -> List[str]:
    """Remove the temp files a killed earlier process left in `directory`; return their names."""
    if not os.path.isdir(directory):
        return []
    pattern = stale_temp_pattern(prefix)
    removed = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if pattern.match(name) and os.path.isfile(path):
            _remove_quietly(path)
            removed.append(name)
    return removed


def check_output_dir(path: str, what: str = "output_dir", option: str = "--output_dir") -> None:
    """Raise OutputError unless `path` is (or can become) a writable folder; creates nothing. `what` and `option`
    name it in the message (check_output_file passes a file's folder)."""
    if not path:
        raise OutputError(f"{what} is empty: pass {option}")
    absolute = os.path.abspath(path)
    if os.path.lexists(absolute) and not os.path.isdir(absolute):
        raise OutputError(f"{what} '{path}' is a file, not a folder; choose another {option}")
    probe = absolute
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise OutputError(f"{what} '{path}' cannot be created: '{probe}' is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        if probe == absolute:
            raise OutputError(f"{what} '{path}' is not writable (permission denied or a read-only file system); "
                              f"choose another {option}")
        raise OutputError(f"{what} '{path}' cannot be created: the folder '{probe}' that would hold it is not "
                          f"writable (permission denied or a read-only file system); choose another {option}")


def check_output_file(path: str, option: str, suffixes: Optional[Sequence[str]] = None) -> str:
    """Check, before any work, that a file can be written at `path` (the value of `option`): a known suffix when
    `suffixes` are given (ValueError), not a folder, and a folder that exists or can be created and is writable
    (OutputError; files are written aside and renamed, so the folder decides). Creates nothing; returns the
    lower-case suffix."""
    if not path:
        raise OutputError(f"{option} is empty: give a file name")
    suffix = os.path.splitext(path)[1].lower()
    if suffixes is not None and suffix not in suffixes:
        raise ValueError(f"{option} '{path}': unknown suffix '{suffix or '(none)'}'; expected "
                         f"{' or '.join(suffixes) if len(suffixes) < 3 else 'one of ' + ', '.join(suffixes)}")
    if os.path.isdir(path):
        raise OutputError(f"{option} '{path}' is a folder; give a file name")
    try:
        check_output_dir(os.path.dirname(os.path.abspath(path)), "its folder", option)
    except OutputError as e:
        raise OutputError(f"{option} '{path}' cannot be written: {e}") from None
    return suffix


# What a run leaves in its output folder (besides train.lock): the files of its results, replaced by a new run.
RESULT_FILES = ("summary.csv", "steps.csv", "curves.png", "predictions.png", "config.yaml")
CHECKPOINT_FOLDER = "ckpt"


def earlier_run_results(output_dir: str, inputs: Sequence[str] = ()) -> List[str]:
    """The checkpoints (ckpt/*.ckpt; temp files and this run's `inputs` aside) and report files of an earlier run
    in `output_dir`."""
    ckpt_dir = os.path.join(output_dir, CHECKPOINT_FOLDER)
    inputs = {os.path.realpath(p) for p in inputs if p}
    found = []
    if os.path.isdir(ckpt_dir):
        found = [os.path.join(CHECKPOINT_FOLDER, n) for n in sorted(os.listdir(ckpt_dir))
                 if n.endswith(".ckpt") and not n.endswith(TMP_SUFFIX)
                 and os.path.realpath(os.path.join(ckpt_dir, n)) not in inputs]
    return found + [n for n in RESULT_FILES[:2] if os.path.isfile(os.path.join(output_dir, n))]


def check_new_run(output_dir: str, resume: str, overwrite: bool, inputs: Sequence[str] = ()) -> None:
    """Refuse a new run (no `resume`) into a folder that holds an earlier run's checkpoints or summary, unless
    `overwrite` (then `clear_earlier_run` removes them once the folder is locked). `inputs`: checkpoints the run
    reads (a pretrained or teacher checkpoint), which are not an earlier run's."""
    found = [] if (resume or overwrite) else earlier_run_results(output_dir, inputs)
    if not found:
        return
    periodic = [f for f in found if f.endswith(".ckpt") and not f.endswith(("_best.ckpt", "_ema.ckpt"))]
    newest = max(periodic, key=lambda f: os.path.getmtime(os.path.join(output_dir, f)), default="")
    resume_hint = f"pass --resume {os.path.join(output_dir, newest)}" if newest else "pass --resume CKPT"
    shown = ", ".join(found[:4]) + (f" and {len(found) - 4} more" if len(found) > 4 else "")
    raise OutputError(f"output_dir '{output_dir}' holds an earlier run ({shown}), which a new run would replace: "
                      f"{resume_hint} to continue it (with a larger --epoch_size if it had finished), choose a "
                      f"new --output_dir, remove the folder, or pass "
                      f"--overwrite true to replace that run")


def clear_earlier_run(output_dir: str, inputs: Sequence[str] = ()) -> List[str]:
    """Remove an earlier run's checkpoints and report files from `output_dir` (--overwrite true); return their
    names. Other files stay: this run's `inputs`, the logs (a new run appends to them), e.g. a generated data set."""
    removed = earlier_run_results(output_dir, inputs)
    removed += [n for n in RESULT_FILES[2:] if os.path.isfile(os.path.join(output_dir, n))]
    for name in removed:
        _remove_quietly(os.path.join(output_dir, name))
    return removed


class RunLock:
    """An exclusive lock on an output folder, held for the life of the process (see the module docstring)."""

    def __init__(self, output_dir: str):
        self.output_dir = output_dir
        self.path = os.path.join(output_dir, LOCK_NAME)
        self._fd: Optional[int] = None
        self.taken_over: Optional[dict] = None
        self.created = ""  # the topmost folder acquire() created for output_dir, if any (see release_failed)

    def acquire(self) -> "RunLock":
        check_output_dir(self.output_dir)
        for _ in range(10):  # a holder that ends removes the file: lock the file that is at the path now
            fd = self._open_and_lock()
            try:
                if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        else:
            raise OutputError(f"cannot lock output_dir '{self.output_dir}': its {LOCK_NAME} keeps being replaced")
        previous = _read_holder(fd)
        if previous:  # a holder that did not release: killed (flock is released by the kernel on exit)
            self.taken_over = previous
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        self._fd = fd
        return self

    def _open_and_lock(self) -> int:
        try:
            self.created = _topmost_missing(self.output_dir)
            os.makedirs(self.output_dir, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise OutputError(f"cannot create output_dir '{self.output_dir}': {describe_os_error(e)}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _read_holder(fd)
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OutputError(f"output_dir '{self.output_dir}' is in use by another training run "
                                  f"({_format_holder(holder)}); wait for it to finish or stop it, or choose "
                                  f"another --output_dir") from None
            raise OutputError(f"cannot lock output_dir '{self.output_dir}': {describe_os_error(e)}") from None
        return fd

    def release(self) -> None:
        """Remove the lock file, then unlock (a run that opened the file meanwhile sees it gone and retries)."""
        if self._fd is None:
            return
        try:
            os.remove(self.path)
        except OSError:
            try:
                os.ftruncate(self._fd, 0)  # an empty lock file means: released normally
            except OSError:
                pass
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def release_failed(self, written_first: Sequence[str] = ("train.log",)) -> bool:
        """Release after a failed run; when acquire() created output_dir (and maybe folders above it) and they hold
        nothing but the lock, `written_first` (what a run writes before its first result) and empty folders,
        remove them, so that a run refused for a bad input leaves nothing behind. Returns whether it did."""
        self.release()
        if not self.created or not os.path.isdir(self.created):
            return False
        keep = {LOCK_NAME, *written_first}
        own = os.path.abspath(self.output_dir)
        walked = list(os.walk(self.created))
        if any(files and not (directory == own and set(files) <= keep) for directory, _, files in walked):
            return False
        for directory, _, files in sorted(walked, key=lambda entry: -len(entry[0])):
            for name in files:
                os.remove(os.path.join(directory, name))
            os.rmdir(directory)
        return True

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _topmost_missing(path: str) -> str:
    """The highest folder of `path` that does not exist yet ("" when `path` exists)."""
    missing, probe = "", os.path.abspath(path)
    while not os.path.exists(probe):
        missing, parent = probe, os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    return missing


def _read_holder(fd: int) -> dict:
    try:
        data = os.pread(fd, 4096, 0)
        return json.loads(data.decode()) if data.strip() else {}
    except (OSError, ValueError):
        return {"pid": "?", "host": "?"}


def _format_holder(holder: dict) -> str:
    if not holder:
        return "its pid and host are not recorded yet"
    return (f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, started "
            f"{holder.get('started', '?')}; lock file {LOCK_NAME}")
