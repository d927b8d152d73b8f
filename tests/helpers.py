"""Helpers shared by the test modules: running the shell launchers, writing JSON files, device IPs."""
import json
import os
import subprocess

from tests.datagen import ROOT

SCRIPTS = os.path.join(ROOT, "scripts")
DEVICE_IPS = [f"192.168.10{i}.1" for i in range(8)]


def run_script(script, *args, cwd=None, env=None, timeout=600):
    """Run scripts/`script` with bash; `env` adds to the current environment."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(["bash", os.path.join(SCRIPTS, script), *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def write_json(path, data) -> str:
    path.write_text(json.dumps(data))
    return str(path)
