"""Export each network to ONNX and MINDIR and print how far the exported logits are from MindSpore's.

    python -m src.tools.check_export [NAME ...] [--image_size 32] [--checkpoint_path CKPT] [--reparam true|false]

Without a checkpoint the weights are random with BatchNorm statistics calibrated on random images (and the last
BN of each ResNet bottleneck branch scaled by 0.2), the procedure of tests/deploy/test_export.py. Prints, per model, the
largest |difference| divided by the largest |logit| for onnxruntime and for ms.load + nn.GraphCell. Re-parameterisable
networks are checked deployed, as export.py writes them, unless --reparam false.
"""
import argparse
import os
import sys
import tempfile

import mindspore as ms
import numpy as np

from ..cli import run_main
from ..config import to_bool
from ..deploy import calibrate_batchnorm, export_model, relative_difference, run_mindir, run_onnx
from ..loading import open_model
from ..models import check_model_name, create_model, deploy_form, list_models
from ..progress import track


def check(name: str, image_size: int, checkpoint: str = "", seed: int = 0, reparam: bool = True):
    """(onnx relative difference, mindir relative difference, logit scale) for one model."""
    rng = np.random.default_rng(seed)
    if checkpoint:
        net = open_model(checkpoint, name, preprocessing={"image_size": image_size}, reparameterize=reparam)
    else:
        net = create_model(name, num_classes=7, image_size=image_size)
        for param_name, param in net.parameters_and_names():
            if param_name.endswith("bn3.gamma"):
                param.set_data(ms.Tensor(param.asnumpy() * 0.2))
        calibrate_batchnorm(net, ms.Tensor(rng.standard_normal((64, 3, image_size, image_size)).astype(np.float32)))
        deploy_form(net, reparameterize=reparam)  # the form export.py writes
    x = rng.standard_normal((2, 3, image_size, image_size)).astype(np.float32)
    reference = net(ms.Tensor(x)).asnumpy()
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = export_model(net, os.path.join(tmp, name), "ONNX", 2, image_size)
        mindir_path = export_model(net, os.path.join(tmp, name), "MINDIR", 2, image_size)
        return (relative_difference(reference, run_onnx(onnx_path, x)),
                relative_difference(reference, run_mindir(mindir_path, x)), float(np.abs(reference).max()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}.check_export", description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="model names (default: every registered model)")
    parser.add_argument("--image_size", type=int, default=32)
    parser.add_argument("--checkpoint_path", default="", help="check these weights (one model) instead")
    parser.add_argument("--reparam", type=to_bool, default=True, metavar="true|false",
                        help="fold re-parameterisable branches first, as export.py does (default true)")
    return run_main("check_export", parser.parse_args, _run, argv)


def _run(args) -> int:
    ms.set_context(mode=ms.GRAPH_MODE)
    names = args.models or list_models()
    for name in names:
        check_model_name(name)
    print("| model | ONNX (onnxruntime) | MINDIR (GraphCell) | max abs logit |")
    print("| --- | ---: | ---: | ---: |")
    for name in track(names, "check_export", "model"):
        onnx_diff, mindir_diff, scale = check(name, args.image_size, args.checkpoint_path, reparam=args.reparam)
        print(f"| {name} | {onnx_diff:.2e} | {mindir_diff:.2e} | {scale:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
