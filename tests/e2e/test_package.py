"""The package installs as `ghostzoo` and imports from any folder, its public names and tools included."""
import os
import shutil
import subprocess
import sys
import tomllib

import pytest

from tests.support import ROOT


def _project_copy(tmp_path):
    """The files a build reads, copied, so that building leaves nothing in the checkout."""
    copy = tmp_path / "project"
    shutil.copytree(os.path.join(ROOT, "src"), copy / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), copy / name)
    return copy


def _venv(tmp_path):
    """A virtual environment that sees this interpreter's packages (MindSpore, setuptools), so nothing is
    downloaded."""
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(env_dir)], check=True)
    return str(env_dir / "bin" / "python")


def test_every_package_folder_is_listed_in_pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        listed = set(tomllib.load(f)["tool"]["setuptools"]["packages"])
    folders = {"ghostzoo" + (("." + os.path.relpath(d, os.path.join(ROOT, "src")).replace(os.sep, "."))
                             if d != os.path.join(ROOT, "src") else "")
               for d, _, files in os.walk(os.path.join(ROOT, "src")) if "__init__.py" in files}
    assert listed == folders


def test_no_module_imports_src_absolutely():
    offenders = []
    for folder, _, files in os.walk(os.path.join(ROOT, "src")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                for number, line in enumerate(open(path, encoding="utf-8"), 1):
                    if line.lstrip().startswith(("from src.", "import src.", "from src import")):
                        offenders.append(f"{path}:{number}")
    assert offenders == []


@pytest.mark.slow
@pytest.mark.parametrize("editable", [False, True], ids=["install", "editable"])
def test_pip_install_then_import_from_another_folder(tmp_path, editable):
    python = _venv(tmp_path)
    project = _project_copy(tmp_path)
    target = ["-e", str(project)] if editable else [str(project)]
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", *target],
                   check=True, cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import sys, ghostzoo; assert 'mindspore' not in sys.modules; "
            "net = ghostzoo.create_model('mobilenet_v1_025', num_classes=3); "
            "print(ghostzoo.__file__); print(type(net).__name__, ','.join(ghostzoo.list_models('ghostnet_1*')))")
    out = subprocess.run([python, "-c", code], cwd=elsewhere, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    where, listing = out.stdout.strip().splitlines()[-2:]
    assert where.startswith(str(project if editable else tmp_path / "venv"))
    assert listing.endswith("ghostnet_100,ghostnet_130")
    tool = subprocess.run([python, "-m", "ghostzoo.tools.model_info", "ghostnet_10"], cwd=elsewhere,
                          capture_output=True, text=True)
    assert tool.returncode == 2 and "unknown model 'ghostnet_10'" in tool.stderr
    script = tmp_path / "venv" / "bin" / "ghostzoo-model-info"
    listed = subprocess.run([str(script), "--num_classes", "10", "mobilenet_v1_025"], cwd=elsewhere,
                            capture_output=True, text=True)
    assert listed.returncode == 0 and "mobilenet_v1_025" in listed.stdout, listed.stderr
