"""What `import src` sets in the environment for MindSpore, and how a process running another framework (the
benchmark's PyTorch side) takes it back out while keeping the user's own settings."""
import json
import os
import subprocess
import sys
import textwrap

from tests.support import ROOT

PACKAGE_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "OMP_WAIT_POLICY", "GHOSTZOO_DEFAULTED")

# Imports the package, then (in a child of that process, as the benchmark launches its workers) clears its defaults;
# prints both environments' values of the package's variables.
SCRIPT = textwrap.dedent("""
    import json, os, subprocess, sys
    import src
    names = src.PACKAGE_DEFAULTS
    child = '''
    import json, os, src
    before = {n: os.environ.get(n) for n in NAMES}
    settings = src.clear_package_defaults()
    print(json.dumps([before, settings, {n: os.environ.get(n) for n in NAMES}]))
    '''
    names = list(names) + [src.DEFAULTED_VARIABLE]
    out = subprocess.run([sys.executable, "-c", child.replace("NAMES", repr(names))], capture_output=True, text=True,
                         check=True).stdout
    print(json.dumps([{n: os.environ.get(n) for n in names}] + json.loads(out)))
""")


def _run(**user):
    env = {k: v for k, v in os.environ.items() if k not in PACKAGE_VARIABLES}
    env.update(user, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def test_the_package_sets_its_defaults_and_a_child_can_take_them_out():
    parent, child_before, settings, child_after = _run()
    assert parent == {"ONEDNN_MAX_CPU_ISA": "AVX2", "OMP_WAIT_POLICY": "PASSIVE",
                      "GHOSTZOO_DEFAULTED": "OMP_WAIT_POLICY,ONEDNN_MAX_CPU_ISA"}
    assert child_before == parent  # inherited: the child's own import sets nothing, the names tell what was ours
    assert settings == {"ONEDNN_MAX_CPU_ISA": None, "OMP_WAIT_POLICY": None}
    assert child_after == {"ONEDNN_MAX_CPU_ISA": None, "OMP_WAIT_POLICY": None, "GHOSTZOO_DEFAULTED": None}


def test_the_users_own_settings_stay():
    parent, child_before, settings, child_after = _run(OMP_WAIT_POLICY="ACTIVE")
    assert parent == {"ONEDNN_MAX_CPU_ISA": "AVX2", "OMP_WAIT_POLICY": "ACTIVE",
                      "GHOSTZOO_DEFAULTED": "ONEDNN_MAX_CPU_ISA"}
    assert settings == {"ONEDNN_MAX_CPU_ISA": None, "OMP_WAIT_POLICY": "ACTIVE"}
    assert child_after == {"ONEDNN_MAX_CPU_ISA": None, "OMP_WAIT_POLICY": "ACTIVE", "GHOSTZOO_DEFAULTED": None}
    _, _, settings, child_after = _run(ONEDNN_MAX_CPU_ISA="AVX512_CORE", OMP_WAIT_POLICY="PASSIVE")
    assert settings == {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE", "OMP_WAIT_POLICY": "PASSIVE"}
    assert child_after["GHOSTZOO_DEFAULTED"] is None


def test_a_value_changed_after_the_package_set_it_is_the_users():
    """A variable the package defaulted and the process then set to something else is no longer the package's."""
    import src
    saved = {n: os.environ.get(n) for n in PACKAGE_VARIABLES}
    try:
        os.environ.update(ONEDNN_MAX_CPU_ISA="AVX2", OMP_WAIT_POLICY="ACTIVE",
                          GHOSTZOO_DEFAULTED="OMP_WAIT_POLICY,ONEDNN_MAX_CPU_ISA")
        assert src.user_settings() == {"ONEDNN_MAX_CPU_ISA": None, "OMP_WAIT_POLICY": "ACTIVE"}
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
