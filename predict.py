"""Predict the classes of your own images: `python predict.py --checkpoint_path CKPT IMAGE|FOLDER|GLOB ...`.

    python predict.py --checkpoint_path runs/quickstart/ckpt/ghostnet_050_best.ckpt photo.jpg photos/ 'more/*.png'
                      [--top_k 5] [--output preds.csv|preds.json] [--grid preds.png] [--batch_size 32]

The model may also be an exported .onnx or .mindir file (`--checkpoint_path` or `--model_path`). Prints the top-k
class names with their probabilities per image as a table. The preprocessing and the class names come from the
checkpoint's or file's model record (a checkpoint without one is recognised by its parameters and gets its
model's default preprocessing, with the class indices as names). Folders are searched recursively. `--grid`
draws the images with their top-1 label and probability, green (right) or red (wrong) where the image's folder
is named after one of the classes. Corrupt or unreadable images are listed on stderr and skipped.
"""
import os
import sys

from src.cli import run_main
from src.config import PREDICT, parse_config
from src.plots import check_figure_path
from src.prediction import (accuracy, check_model_file, check_output_path, collect_images,
                            draw_grid, format_table, open_predictor, predict_files, write_predictions)
from src.progress import Progress
from src.weights.cli import expand_pretrained

PROG = "predict.py"
INPUTS = (("inputs",), dict(nargs="+", metavar="IMAGE|FOLDER|GLOB", help="image files, folders (searched "
                                                                         "recursively) or glob patterns (quote them)"))


def check_arguments(args) -> str:
    """Errors in the options before any model is loaded; returns the model file's suffix."""
    if args.output:
        check_output_path(args.output)
    if args.grid:
        check_figure_path(args.grid, "--grid")
    return check_model_file(args.checkpoint_path)


def predict(args, inputs) -> int:
    """Predict the images `inputs` name with the model `args.checkpoint_path` holds, as the options say."""
    suffix = check_arguments(args)
    images = collect_images(inputs)
    if suffix != ".onnx":
        from src.runtime import setup_runtime  # the network (.ckpt) or GraphCell (.mindir) runs on MindSpore
        setup_runtime(args.device_target, 0, args.mode, distribute="false")
    predictor = open_predictor(args.checkpoint_path, args.model if args.from_command_line("model") else "",
                               args.device_target, args.batch_size)
    sys.stderr.write(f"{predictor.path}: {predictor.how}; {len(images)} image(s)\n")
    with Progress(len(images), "predict", "img") as progress:
        run = predict_files(predictor, images, args.batch_size, args.top_k, args.image_check, progress.update)
    k = min(args.top_k, len(predictor.classes))
    if run.predictions:
        print(format_table(run, predictor.classes, k))
    if run.skipped:
        sys.stderr.write(f"skipped {len(run.skipped)} unreadable image(s):\n")
        for _, why in run.skipped:
            sys.stderr.write(f"  {why}\n")
    if not run.predictions:
        raise ValueError(f"none of the {len(images)} image(s) could be read (see the list above)")
    right = accuracy(run.predictions)
    if right is not None:
        sys.stderr.write(f"top-1 right on {right[0]} of the {right[1]} images whose folder names their class "
                         f"({right[0] / right[1]:.4f})\n")
    if args.output:
        sys.stderr.write(f"predictions: {write_predictions(run, predictor, args.output, k)}\n")
    if args.grid:
        title = f"{predictor.model}: {os.path.basename(predictor.path)}"
        sys.stderr.write(f"grid: {draw_grid(run, predictor.classes, args.grid, args.grid_max, title)}\n")
    return 0


def main(argv=None) -> int:
    def parse(args):
        return parse_config(expand_pretrained(args, "--checkpoint_path"), PROG, __doc__.splitlines()[0],
                            extra=[INPUTS], script=PREDICT)
    return run_main(PROG, parse, lambda parsed: predict(parsed[0], parsed[1].inputs), argv)


if __name__ == "__main__":
    sys.exit(main())
