"""Compile the C++ kernels in this folder with the system g++, on first use, into a cache.

The library lands in `$GHOSTZOO_HOME/kernels` (default `~/.cache/ghostzoo/kernels`) under a name holding a hash
of the source, the flags and the compiler's version, so an edited source or another compiler builds anew and a
stale library is never loaded. An fcntl lock on the cache folder makes parallel processes (data-parallel ranks,
pytest workers) build once: the others wait and then find the file.
"""
import fcntl
import hashlib
import os
import shutil
import subprocess
from typing import Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
FLAGS = ("-O3", "-mavx2", "-mfma", "-fopenmp", "-std=c++17", "-shared", "-fPIC", "-Wall")
COMPILER = "g++"
BUILD_TIMEOUT_S = 300


def cache_dir() -> str:
    home = os.environ.get("GHOSTZOO_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "ghostzoo")
    return os.path.join(home, "kernels")


def cpu_supports_avx2() -> bool:
    """Whether this CPU has AVX2 and FMA, which the flags assume (Linux: /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx2" in flags and "fma" in flags


def _compiler_version(compiler: str) -> str:
    out = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.splitlines()[0] if out.stdout else ""


def library_path(source: str, compiler: str) -> str:
    """Where the library of `source` built with the current flags and `compiler` lives in the cache."""
    with open(source, "rb") as f:
        digest = hashlib.sha256(f.read())
    digest.update(" ".join(FLAGS).encode())
    digest.update(_compiler_version(compiler).encode())
    stem = os.path.splitext(os.path.basename(source))[0]
    return os.path.join(cache_dir(), f"{stem}-{digest.hexdigest()[:16]}.so")


def build(source: str, compiler: Optional[str] = None) -> str:
    """The path of the compiled library of `source` (a .cc in this folder), building it if the cache lacks it.

    Raises RuntimeError with the compiler's output when the build fails, FileNotFoundError without a compiler.
    """
    compiler = compiler or COMPILER
    if shutil.which(compiler) is None:
        raise FileNotFoundError(f"no C++ compiler '{compiler}' on PATH")
    target = library_path(source, compiler)
    if os.path.isfile(target):
        return target
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(os.path.join(os.path.dirname(target), ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if os.path.isfile(target):  # another process built it while this one waited
                return target
            partial = f"{target}.{os.getpid()}.tmp"
            cmd = [compiler, *FLAGS, "-o", partial, source]
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
            if out.returncode != 0:
                raise RuntimeError(f"building {source} failed ({' '.join(cmd)}):\n{out.stderr.strip()}")
            os.replace(partial, target)  # atomic: a reader never sees half a library
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


def try_build(source: str) -> Tuple[Optional[str], str]:
    """(library path, "") when the kernels can run here, else (None, the reason)."""
    if not cpu_supports_avx2():
        return None, "the CPU lacks AVX2/FMA"
    try:
        return build(source), ""
    except (FileNotFoundError, RuntimeError, OSError, subprocess.SubprocessError) as err:
        return None, f"the build failed: {err}"
