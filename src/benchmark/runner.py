"""Start a measurement in a fresh process and read its result back."""
import json
import os
import subprocess
import sys
from typing import Optional

from .worker import ERROR_PREFIX, RESULT_PREFIX

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class WorkerError(RuntimeError):
    """A measurement failed; the message says which and why (the worker's error line or its last output)."""


def describe(spec: dict) -> str:
    what = spec.get("model") or os.path.basename(spec.get("path", "")) or spec.get("split", "")
    return f"{spec.get('framework', 'ours')} {spec['job']} of {what}"


def run_worker(spec: dict, timeout: Optional[float] = None, root: str = ROOT) -> dict:
    """Run `spec` in `python -m src.benchmark.worker` of the checkout at `root` (default: this one) and return its
    result dict (WorkerError if it fails)."""
    env = dict(os.environ)
    env.setdefault("GLOG_v", "3")  # MindSpore: errors only, the warnings would bury the table
    try:
        proc = subprocess.run([sys.executable, "-m", f"{__package__}.worker", json.dumps(spec)], cwd=root, env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise WorkerError(f"{describe(spec)} ran past the {timeout:g} s limit (--timeout)") from None
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX) and proc.returncode == 0:
            return json.loads(line[len(RESULT_PREFIX):])
        if line.startswith(ERROR_PREFIX):
            raise WorkerError(f"{describe(spec)}: {line[len(ERROR_PREFIX):]}")
    tail = [line for line in (proc.stderr or "").splitlines() if line.strip()][-8:]
    how = f"exit status {proc.returncode}" if proc.returncode >= 0 else f"signal {-proc.returncode}"
    raise WorkerError(f"{describe(spec)} failed ({how})" + (":\n  " + "\n  ".join(tail) if tail else ""))
