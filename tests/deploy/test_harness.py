"""The C++ inference harness (ascend310_infer/): its MindSpore-free helpers built with g++ and with CMake, build.sh
without a MindSpore C++ package, and the image list / result-file names against src/deploy/naming.py."""
import importlib.util
import os
import re
import shutil
import subprocess
import time

import pytest

from src.deploy import list_images, result_key
from tests.support import ON_CI, ROOT

HARNESS = os.path.join(ROOT, "ascend310_infer")
SOURCES = [os.path.join(HARNESS, "src", "utils.cc"), os.path.join(HARNESS, "tests", "utils_test.cc")]
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$")


def _last_line(text):
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


@pytest.fixture(scope="module")
def utils_test(tmp_path_factory):
    """utils_test compiled with the strict warning set (warnings are errors)."""
    if shutil.which("g++") is None and not ON_CI:
        pytest.skip("g++ is not installed")
    exe = str(tmp_path_factory.mktemp("harness_gxx") / "utils_test")
    cmd = ["g++", "-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-I", os.path.join(HARNESS, "inc"),
           *SOURCES, "-o", exe]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return exe


def test_utils_test_passes(utils_test):
    proc = subprocess.run([utils_test], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout[-4000:]
    match = SUMMARY.match(_last_line(proc.stdout))
    assert match and int(match.group(1)) > 100 and match.group(2) == "0", proc.stdout[-4000:]


@pytest.mark.skipif(shutil.which("cmake") is None and not ON_CI, reason="cmake is not installed")
def test_cmake_builds_utils_test_without_mindspore(tmp_path):
    build = str(tmp_path / "build")
    env = {k: v for k, v in os.environ.items() if k not in ("MINDSPORE_PATH", "ASCEND_HOME", "ASCEND_TOOLKIT_HOME")}
    proc = subprocess.run(["cmake", "-S", HARNESS, "-B", build, "-DBUILD_HARNESS=OFF"], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    proc = subprocess.run(["cmake", "--build", build, "--parallel", "4"], capture_output=True, text=True,
                          timeout=180, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    exe = os.path.join(build, "utils_test")
    assert os.path.isfile(exe) and not os.path.exists(os.path.join(build, "main"))
    proc = subprocess.run([exe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and _last_line(proc.stdout).endswith(" passed, 0 failed"), proc.stdout[-4000:]


def _python_package_has_cxx_api():
    spec = importlib.util.find_spec("mindspore")
    if spec is None or not spec.origin:
        return False
    return os.path.isfile(os.path.join(os.path.dirname(spec.origin), "include", "api", "model.h"))


@pytest.mark.skipif(_python_package_has_cxx_api(), reason="the installed mindspore ships the C++ API: build.sh "
                                                          "would build instead of failing")
@pytest.mark.parametrize("mindspore_path", [None, ""])
def test_build_script_fails_fast_without_mindspore_cxx_package(mindspore_path):
    env = {k: v for k, v in os.environ.items() if k not in ("MINDSPORE_PATH", "ASCEND_HOME", "ASCEND_TOOLKIT_HOME")}
    if mindspore_path is not None:
        env["MINDSPORE_PATH"] = mindspore_path
    build_dir = os.path.join(HARNESS, "build")
    had_build_dir = os.path.exists(build_dir)
    start = time.monotonic()
    proc = subprocess.run(["bash", os.path.join(HARNESS, "build.sh")], capture_output=True, text=True, timeout=60,
                          env=env, cwd=ROOT)
    elapsed = time.monotonic() - start
    assert proc.returncode != 0
    assert elapsed < 15, f"build.sh took {elapsed:.1f} s to give up"
    assert "MindSpore C++ inference package" in proc.stderr
    assert "include/api/model.h" in proc.stderr and "libmindspore.so" in proc.stderr
    assert "MINDSPORE_PATH=/path/to/mindspore bash" in proc.stderr
    assert os.path.exists(build_dir) == had_build_dir  # nothing configured


def test_build_script_rejects_a_wrong_mindspore_path(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("ASCEND_HOME", "ASCEND_TOOLKIT_HOME")}
    env["MINDSPORE_PATH"] = str(tmp_path)
    proc = subprocess.run(["bash", os.path.join(HARNESS, "build.sh")], capture_output=True, text=True, timeout=60,
                          env=env)
    assert proc.returncode == 1
    assert str(tmp_path) in proc.stderr and "include/api/model.h" in proc.stderr


def _make_tree(root):
    """Nested class folders, hidden folders and files, non-images, links, odd names and an order where comparing
    path components differs from comparing whole strings ("a/z.jpg" < "a-b/c.jpg" < "a_b.jpg")."""
    dirs = ["a", "a/deep", "a/.hidden_sub", "a-b", ".hidden_dir", "dir.jpg", "other", "n01440764", "n01443537",
            "A", "a b"]
    files = ["b.jpg", "a.JPEG", "a_b.jpg", "z.jpg", "\u00e9.jpg", "sp ace.png", "m.tar.jpg", ".dot.jpg", "..x.jpg",
             "a/z.jpg", "a/y.png", "a/deep/x.bmp", "a/deep/W.BMP", "a-b/c.jpg", "dir.jpg/in.PNG",
             "a/.hidden_sub/h.jpg", ".hidden_dir/h.jpg", "notes.txt", "c.Jpg", "d.jpg.txt", "e.gif", "jpg",
             "other/readme.md", "n01440764/ILSVRC2012_val_00000293.JPEG", "n01440764/ILSVRC2012_val_00002138.JPEG",
             "n01443537/ILSVRC2012_val_00000236.JPEG", "A/q.jpeg", "a b/r.jpg", "a/Z.JPG", "a/10.png", "a/9.png"]
    for d in dirs:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    for f in files:
        with open(os.path.join(root, f), "wb") as out:
            out.write(b"\xff\xd8\xff")
    os.symlink("a", os.path.join(root, "link"))  # a link to a folder: not walked into
    os.symlink("b.jpg", os.path.join(root, "l.jpg"))  # a link to a file: an image


def _cxx_keys(exe, root, cwd=None):
    proc = subprocess.run([exe, "--list", root], capture_output=True, timeout=60, cwd=cwd)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout.decode("utf-8").splitlines()


def test_image_list_and_keys_match_python(utils_test, tmp_path):
    root = str(tmp_path / "images")
    os.makedirs(root)
    _make_tree(root)
    expected = [result_key(root, p) for p in list_images(root)]
    assert len(expected) == 25 and expected.index("a__z") < expected.index("a-b__c") < expected.index("a_b")
    assert _cxx_keys(utils_test, root) == expected
    # The same root written differently: a trailing slash, a relative path.
    assert _cxx_keys(utils_test, root + "/") == [result_key(root + "/", p) for p in list_images(root + "/")]
    assert _cxx_keys(utils_test, "images", cwd=str(tmp_path)) == expected


def test_flat_folder_keys_are_plain_stems(utils_test, tmp_path):
    """A flat folder (the model zoo's layout) gives the plain file stems, in the same order as Python."""
    root = str(tmp_path / "val")
    os.makedirs(root)
    for i in (50000, 2, 10, 1):
        with open(os.path.join(root, f"ILSVRC2012_val_{i:08d}.JPEG"), "wb") as out:
            out.write(b"\xff\xd8\xff")
    keys = _cxx_keys(utils_test, root)
    assert keys == [result_key(root, p) for p in list_images(root)]
    assert keys == ["ILSVRC2012_val_00000001", "ILSVRC2012_val_00000002", "ILSVRC2012_val_00000010",
                    "ILSVRC2012_val_00050000"]


def test_list_errors_like_python(utils_test, tmp_path):
    (tmp_path / "empty" / ".hidden").mkdir(parents=True)
    (tmp_path / "empty" / ".hidden" / "x.jpg").write_bytes(b"x")
    (tmp_path / "empty" / "notes.txt").write_text("x")
    for root, text in ((str(tmp_path / "missing"), "does not exist"), (str(tmp_path / "empty"), "no images found")):
        with pytest.raises(Exception):
            list_images(root)
        proc = subprocess.run([utils_test, "--list", root], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1 and text in proc.stderr and proc.stdout == ""


VENDORED_API = os.path.join(HARNESS, "third_party", "mindspore-cxx-api")


@pytest.mark.skipif(shutil.which("g++") is None and not ON_CI, reason="g++ is not installed")
def test_main_compiles_against_the_real_mindspore_cxx_api():
    """main.cc against MindSpore's real C++ inference API headers (ascend310_infer/third_party/mindspore-cxx-api,
    copied unchanged from MindSpore's repositories): class names and signatures must match what an Ascend machine's
    MindSpore package provides. No library is linked (the PyPI wheel has none)."""
    assert os.path.isfile(os.path.join(VENDORED_API, "include", "api", "model.h"))
    cmd = ["g++", "-std=c++17", "-fsyntax-only", "-I", VENDORED_API, "-I", os.path.join(HARNESS, "inc"),
           os.path.join(HARNESS, "src", "main.cc")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-4000:]


@pytest.mark.skipif(shutil.which("g++") is None and not ON_CI, reason="g++ is not installed")
def test_the_syntax_check_catches_a_wrong_api_call(tmp_path):
    """The check above can fail: main.cc with a method the API does not have is refused."""
    source = open(os.path.join(HARNESS, "src", "main.cc")).read()
    broken = source.replace("model.Build(", "model.BuildModel(", 1)
    assert broken != source
    path = tmp_path / "main.cc"
    path.write_text(broken)
    cmd = ["g++", "-std=c++17", "-fsyntax-only", "-I", VENDORED_API, "-I", os.path.join(HARNESS, "inc"), str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode != 0 and "BuildModel" in proc.stderr
