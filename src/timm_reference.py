"""timm + PyTorch as the reference the tests and the benchmark compare against.

`import_timm()` imports timm beside the pinned CPU build of torch. PyPI's torchvision 0.28.0 (the release for torch
2.13.0) is linked against CUDA, so its compiled extension does not load beside the CPU torch; its Python side then
registers fake kernels for `torchvision::nms` / `::qnms` without checking that the extension loaded, and the import
fails with "operator torchvision::nms does not exist". Declaring those two operator schemas first lets torchvision,
and so timm, import; only torchvision's compiled operators (nms, roi_align, image decoding) stay unavailable, and no
timm classification model calls them.
"""
import sys

_LIBRARY = None  # keeps the schema declarations alive


def import_timm():
    """The timm module; ImportError with what to install when torch or timm is missing."""
    global _LIBRARY
    try:
        import torch
    except ImportError:
        raise ImportError("the timm reference needs PyTorch: pip install -r requirements-dev.txt") from None
    try:
        import torchvision  # noqa: F401
    except ImportError:
        raise ImportError("the timm reference needs torchvision: pip install -r requirements-dev.txt") from None
    except RuntimeError as e:
        if "torchvision::nms does not exist" not in str(e):
            raise
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        _LIBRARY = torch.library.Library("torchvision", "DEF")
        _LIBRARY.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _LIBRARY.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        import torchvision  # noqa: F401
    try:
        import timm
    except ImportError:
        raise ImportError("the timm reference needs timm: pip install -r requirements-dev.txt") from None
    return timm
