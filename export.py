"""Export a checkpoint to MINDIR, ONNX or AIR.

    python export.py --checkpoint_path CKPT [--file_format MINDIR|ONNX|AIR] [--file_name OUT] [--batch_size 1]
                     [--device_target CPU] [--model NAME] [--image_size N] [--num_classes N] [--config X.yaml]
                     [--reparam true|false]

The model, class count, classes and preprocessing come from the checkpoint (its record, or its parameter names for
a checkpoint without one) and go into the exported file; a command-line value overrides them. The model zoo's
`--ckpt_file` is accepted for --checkpoint_path. The exported graph is the eval-mode network (no dropout, BatchNorm
with its moving statistics). --batch_size 0 exports a dynamic batch dimension. AIR needs MindSpore's Ascend backend.
Re-parameterisable networks (GhostNetV3, RepGhost) are exported deployed, their training-time branches folded into
single convolutions, unless --reparam false; for the other networks it changes nothing.
"""
import sys

from src.cli import run_main
from src.config import EXPORT_SCRIPT, parse_config
from src.data.preprocessing import PREPROCESSING_KEYS
from src.deploy import export_model, export_path
from src.engine.record import ModelRecord
from src.errors import ConfigError
from src.loading import log_deployed, ready_network, resolve_opened_preprocessing
from src.engine.checkpoint import open_checkpoint
from src.outputs import check_output_file
from src.runtime import setup_runtime
from src.weights.cli import expand_pretrained

PROG = "export.py"
DESCRIPTION = "Export a checkpoint to MINDIR, ONNX or AIR."


def export(cfg) -> str:
    """Open `cfg.checkpoint_path`, turn it into its deployed form and write the exported file; its path."""
    if not cfg.checkpoint_path:
        raise ConfigError("no checkpoint given: pass --checkpoint_path FILE.ckpt")
    runtime = setup_runtime(cfg.device_target, cfg.device_id)
    model = cfg.model if cfg.from_command_line("model") else None
    num_classes = cfg.num_classes if cfg.from_command_line("num_classes") else None
    opened = open_checkpoint(cfg.checkpoint_path, model, num_classes)
    check_output_file(export_path(cfg.file_name or opened.model, cfg.file_format), "--file_name")
    preprocessing = resolve_opened_preprocessing(opened, cfg.set_by("command line", ("image_size",)),
                                                 cfg.set_by("recipe", PREPROCESSING_KEYS))
    net = ready_network(opened, preprocessing, reparameterize=cfg.reparam)
    log_deployed(net, print)
    opened, record, preprocessing = net.opened, net.record, net.preprocessing
    image_size = preprocessing.image_size
    exported = ModelRecord(opened.model, opened.num_classes, preprocessing, record.classes if record else None,
                           record.dataset if record else "", record.data_path if record else "",
                           f"{PROG} of {cfg.checkpoint_path}", record.config if record else {},
                           dict(opened.model_kwargs))
    path = export_model(net, cfg.file_name or opened.model, cfg.file_format, cfg.batch_size, image_size,
                        runtime.device_target, exported)
    print(f"exported {opened.model} ({opened.num_classes} classes, input {cfg.batch_size or 'N'}x3x{image_size}x"
          f"{image_size}; {opened.how}) to {path}")
    return path


def main(argv=None) -> int:
    def body(parsed) -> int:
        export(parsed[0])
        return 0
    return run_main(PROG, lambda args: parse_config(expand_pretrained(args, "--checkpoint_path"), PROG, DESCRIPTION,
                                                    script=EXPORT_SCRIPT), body, argv)


if __name__ == "__main__":
    sys.exit(main())
