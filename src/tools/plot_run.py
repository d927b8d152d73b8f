"""Redraw the training curves of one run, or overlay several.

    python -m src.tools.plot_run OUTPUT_DIR [OUTPUT_DIR ...] [--output FILE.png] [--title TEXT]

Each run is read from its summary.csv and steps.csv or, for runs written before those existed, from the log lines
of its train.log. One run is drawn to OUTPUT_DIR/curves.png, several to --output (default curves_overlay.png in
the current folder): loss and lr over the epochs, validation top-1 / top-5, each run's best epoch starred.
"""
import argparse
import os
import sys

from ..cli import run_main
from ..engine.report import CURVES_NAME, read_run
from ..plots import check_figure_path, draw_curves

PROG = f"python -m {__package__}.plot_run"
OVERLAY_NAME = "curves_overlay.png"


def run_labels(folders) -> list:
    """The folders' names, with their parent's name added where two runs share a name."""
    names = [os.path.basename(os.path.abspath(f)) for f in folders]
    return [os.path.join(os.path.basename(os.path.dirname(os.path.abspath(f))), n) if names.count(n) > 1 else n
            for f, n in zip(folders, names)]


def plot_runs(folders, output: str = "", title: str = ""):
    """Draw the runs in `folders` (one: into its folder, unless `output` says otherwise); return (the path
    written, the runs' histories)."""
    if output:
        check_figure_path(output, "--output")
    runs = [read_run(folder, label) for folder, label in zip(folders, run_labels(folders))]
    path = output or (os.path.join(folders[0], CURVES_NAME) if len(folders) == 1 else OVERLAY_NAME)
    return draw_curves(runs, path, title or (runs[0].label if len(runs) == 1 else "")), runs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", metavar="OUTPUT_DIR", help="training output folders")
    parser.add_argument("--output", default="", help="the image to write (.png, .svg, .pdf, .jpg)")
    parser.add_argument("--title", default="")

    def body(args) -> int:
        path, runs = plot_runs(args.folders, args.output, args.title)
        for folder, run in zip(args.folders, runs):
            best = run.best()
            print(f"{folder}: {len(run.rows)} epoch(s) from {run.source}"
                  + (f", best top-1 {best[0]:.4f} at epoch {best[1]}" if best else ""))
        print(f"curves: {path}")
        return 0
    return run_main(PROG, parser.parse_args, body, argv)


if __name__ == "__main__":
    sys.exit(main())
