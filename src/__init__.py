"""ghostzoo: the GhostNet family, GENet-Res50, GhostNet-D and MobileNetV1 in MindSpore.

Installed, the package is `ghostzoo` (`pip install .`); in a plain clone the same code is the folder `src`, which
the entry scripts import. The library's front doors are importable from the top level:

    import ghostzoo
    net = ghostzoo.create_model("ghostnet_100", num_classes=10)
    ghostzoo.list_models("ghostnet_*")
    ghostzoo.list_pretrained("ghostnet_*")   # published weights: create_model(name, pretrained=TAG)

They are loaded on first use, so `import ghostzoo` does not import MindSpore.

Importing the package caps oneDNN at AVX2 unless the user chose otherwise: on AVX-512 CPUs oneDNN's default picks
a reference kernel for grouped (depthwise) convolutions that is many times slower (docs/performance.md). oneDNN
reads the variable at its first primitive, so this works even when MindSpore was imported first, as long as no
operator has run yet.
"""
import importlib
import os

__version__ = "0.3.0"

CPU_ISA_VARIABLE = "ONEDNN_MAX_CPU_ISA"
WAIT_POLICY_VARIABLE = "OMP_WAIT_POLICY"
# What the package sets where the user left it unset. The wait policy: our OpenMP kernels (src/kernels) sleep between
# calls instead of busy-waiting on cores that MindSpore's own threads need (docs/kernels.md); libgomp reads it when it
# loads, i.e. when MindSpore is imported.
PACKAGE_DEFAULTS = {CPU_ISA_VARIABLE: "AVX2", WAIT_POLICY_VARIABLE: "PASSIVE"}
# The names of those the package set, in the environment itself, so that a child process (the benchmark's PyTorch
# side) can tell them from the user's own and run in the user's environment (docs/performance.md, Benchmark).
DEFAULTED_VARIABLE = "GHOSTZOO_DEFAULTED"


def _defaulted() -> set:
    return set(filter(None, os.environ.get(DEFAULTED_VARIABLE, "").split(",")))


def _set_defaults() -> None:
    defaulted = _defaulted()
    for name, value in PACKAGE_DEFAULTS.items():
        if name not in os.environ:
            os.environ[name] = value
            defaulted.add(name)
    if defaulted:
        os.environ[DEFAULTED_VARIABLE] = ",".join(sorted(defaulted))


def user_settings() -> dict:
    """The environment's values of PACKAGE_DEFAULTS' names as the user set them (None: left to the package)."""
    defaulted = _defaulted()
    return {name: None if name in defaulted and os.environ.get(name) == value else os.environ.get(name)
            for name, value in PACKAGE_DEFAULTS.items()}


def clear_package_defaults() -> dict:
    """Take the variables the package set for MindSpore out of this process's environment, the user's own settings
    kept, for a process that runs another framework (before it loads its libraries, which read them); returns
    user_settings()."""
    settings = user_settings()
    for name, value in settings.items():
        if value is None:
            os.environ.pop(name, None)
    os.environ.pop(DEFAULTED_VARIABLE, None)
    return settings


_set_defaults()

# public name -> submodule that defines it
_API = {
    "create_model": "models",
    "list_models": "models",
    "get_default_cfg": "models",
    "count_params": "models",
    "reparameterize": "models",
    "fold_batchnorm": "models",
    "open_model": "loading",
    "deploy_form": "models",
    "list_pretrained": "weights",
    "resolve_pretrained": "weights",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name):
    if name in _API:
        value = getattr(importlib.import_module(f".{_API[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))
