"""The pictures a user looks at: training curves, a grid of predictions, a confusion matrix (or, for many classes,
the most confused pairs).

matplotlib draws through its object API on an Agg canvas (`matplotlib.figure.Figure`, never `pyplot`), so nothing
here selects a backend or touches the global state of a user's own matplotlib session (a notebook keeps its
inline backend). Files are written aside and renamed into place, like every output of the project.
"""
import math
import os
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .errors import OutputError
from .outputs import check_output_file, describe_os_error

DPI = 100
CURVES_SIZE = (13.0, 4.0)              # inches: 1300 x 400 pixels at DPI
GRID_CELL = (1.75, 2.0)                # inches per image of a prediction grid (a 1.5-inch image and its caption)
GRID_HEADER = 0.5                      # inches above the grid for its title
GRID_MAX_COLUMNS = 8
MATRIX_MAX_CLASSES = 30                # above this a confusion matrix is unreadable: the confused pairs instead
FIGURE_FORMATS = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".svg": "svg", ".pdf": "pdf"}
CORRECT, WRONG, UNKNOWN = "#1a7f37", "#cf222e", "#24292f"
RUN_COLOURS = ("#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#1b7c83", "#e16f24", "#6e7781")


def check_figure_path(path: str, what: str = "figure") -> str:
    """The matplotlib format of `path` from its suffix (ValueError naming it and the allowed ones), its folder
    checked for writing (outputs.check_output_file)."""
    return FIGURE_FORMATS[check_output_file(path, what, sorted(FIGURE_FORMATS))]


def new_figure(width: float, height: float):
    """A Figure on its own Agg canvas (no pyplot, no global backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path: str, what: str = "figure") -> str:
    """Write `fig` to `path` atomically (the format follows the suffix); OutputError naming the path on failure."""
    fmt = check_figure_path(path, what)
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp")
    try:
        os.makedirs(directory, exist_ok=True)
        fig.savefig(tmp, format=fmt, dpi=DPI)
        os.replace(tmp, path)
    except OSError as e:
        if os.path.lexists(tmp):
            os.remove(tmp)
        raise OutputError(f"cannot write {what} '{path}': {describe_os_error(e)}") from None
    return path


# ----------------------------------------------------------------------------------------------------- curves
def _epochs_axis(step: np.ndarray, steps_per_epoch: int) -> np.ndarray:
    return step / steps_per_epoch if steps_per_epoch else step


def draw_curves(runs: Sequence, path: str, title: str = "") -> str:
    """Loss and lr over the steps, validation top-1 / top-5 over the epochs, the best epoch starred; one colour
    per run (`runs`: report.RunHistory objects: label, steps_per_epoch, steps, rows)."""
    fig = new_figure(*CURVES_SIZE)
    loss_ax, lr_ax, acc_ax = fig.subplots(1, 3)
    several = len(runs) > 1
    any_validation = False
    for index, run in enumerate(runs):
        colour = RUN_COLOURS[index % len(RUN_COLOURS)]
        name = f"{run.label}: " if several else ""
        epochs = np.array([r.epoch for r in run.rows], float)
        if run.steps:
            step = np.array([p.step for p in run.steps], float)
            x = _epochs_axis(step, run.steps_per_epoch)
            loss_ax.plot(x, [p.loss for p in run.steps], color=colour, alpha=0.3, linewidth=0.8,
                         label=f"{name}per step" if not several else None)
            lr_ax.plot(x, [p.lr for p in run.steps], color=colour, linewidth=1.2, label=run.label if several else None)
        elif run.rows:
            lr_ax.plot(epochs, [r.lr for r in run.rows], color=colour, marker=".", linewidth=1.2,
                       label=run.label if several else None)
        mean_loss = [(r.epoch, r.train_loss) for r in run.rows if r.train_loss is not None]
        if mean_loss:
            loss_ax.plot(*zip(*mean_loss), color=colour, marker="o", markersize=3, linewidth=1.6,
                         label=run.label if several else "epoch mean")
        validated = [r for r in run.rows if r.val_top1 is not None]
        if validated:
            any_validation = True
            x_val = [r.epoch for r in validated]
            acc_ax.plot(x_val, [r.val_top1 for r in validated], color=colour, marker="o", markersize=3,
                        linewidth=1.6, label=f"{name}top-1")
            acc_ax.plot(x_val, [r.val_top5 for r in validated], color=colour, linestyle="--", linewidth=1.0,
                        alpha=0.7, label=f"{name}top-5")
            best = run.best()
            if best is not None:
                top1, epoch = best
                acc_ax.plot([epoch], [top1], marker="*", markersize=14, color=colour, markeredgecolor="black",
                            linestyle="none", zorder=5)
                # the label goes to the side with room: right of a best in the first half of the epochs
                right_half = epoch > (x_val[0] + x_val[-1]) / 2
                acc_ax.annotate(f"best {top1:.4f}\nepoch {epoch}", (epoch, top1), textcoords="offset points",
                                xytext=(-10 if right_half else 10, -28), ha="right" if right_half else "left",
                                fontsize=8, color=colour)
    loss_ax.set(title="training loss", xlabel="epoch", ylabel="loss")
    lr_ax.set(title="learning rate", xlabel="epoch", ylabel="lr")
    acc_ax.set(title="validation accuracy", xlabel="epoch", ylabel="accuracy")
    if any_validation:
        low = min(min(r.val_top1 for r in run.rows if r.val_top1 is not None) for run in runs
                  if any(r.val_top1 is not None for r in run.rows))
        acc_ax.set_ylim(max(0.0, min(low, 0.9) - 0.05), 1.02)
    else:
        acc_ax.text(0.5, 0.5, "no validation yet", ha="center", va="center", transform=acc_ax.transAxes,
                    color="grey")
    for ax in (loss_ax, lr_ax, acc_ax):
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, "curves")


# ----------------------------------------------------------------------------------------------------- grid
def draw_prediction_grid(items: Sequence[Tuple[np.ndarray, str, float, Optional[str]]], path: str,
                         title: str = "") -> str:
    """Images with their top-1 label and probability: green when right, red (with the true class) when wrong, black
    when the true class is unknown. `items`: (HWC uint8 image, predicted label, probability, true label or None).

    Each image gets a cell of GRID_CELL inches (a 1.5-inch square and its caption above), laid out by hand so that
    captions never run into the row above."""
    if not items:
        raise ValueError("no image to draw in the prediction grid")
    columns = min(GRID_MAX_COLUMNS, len(items))
    rows = math.ceil(len(items) / columns)
    header = GRID_HEADER if title else 0.0
    width, height = columns * GRID_CELL[0], rows * GRID_CELL[1] + header
    fig = new_figure(width, height)
    side, margin = 1.5, (GRID_CELL[0] - 1.5) / 2   # inches: the image square, its left and bottom margin
    for index, (image, label, probability, true) in enumerate(items):
        row, column = divmod(index, columns)
        left = column * GRID_CELL[0] + margin
        bottom = height - header - (row + 1) * GRID_CELL[1] + margin
        ax = fig.add_axes((left / width, bottom / height, side / width, side / height))
        ax.imshow(image)  # a square fills the cell; another shape keeps its proportions
        ax.set_xticks([])
        ax.set_yticks([])
        correct = None if true is None else label == true
        colour = UNKNOWN if correct is None else (CORRECT if correct else WRONG)
        caption = f"{_shorten(label, 18)} {probability:.2f}"
        if correct is False:
            caption += f"\ntrue: {_shorten(true, 16)}"
        ax.set_title(caption, fontsize=8, color=colour, fontweight="bold" if correct is False else "normal",
                     pad=3)
        for spine in ax.spines.values():  # a coloured frame, so that right and wrong show at a glance
            spine.set_color(colour)
            spine.set_linewidth(3 if correct is not None else 0.5)
    if title:
        fig.text(0.5, 1 - (header / 2) / height, title, ha="center", va="center", fontsize=10)
    return save_figure(fig, path, "prediction grid")


def _shorten(text: str, length: int) -> str:
    return text if len(text) <= length else text[:length - 1] + "\u2026"


# ----------------------------------------------------------------------------------------------------- confusion
def draw_confusion(matrix: np.ndarray, classes: Sequence[str], path: str, pairs: Sequence[Tuple[int, int, int]],
                   title: str = "", max_classes: int = MATRIX_MAX_CLASSES) -> str:
    """The confusion matrix (rows: true class, columns: predicted; colour: the share of the row), or, above
    `max_classes` classes, a bar chart of the most confused `pairs` ((true, predicted, count), most first)."""
    matrix = np.asarray(matrix)
    shown = [i for i in range(matrix.shape[0]) if matrix[i].sum() > 0 or matrix[:, i].sum() > 0]
    if len(shown) <= max_classes:
        return _draw_matrix(matrix[np.ix_(shown, shown)], [classes[i] for i in shown], path, title)
    return _draw_pairs(pairs, classes, path, title)


def _draw_matrix(matrix: np.ndarray, names: List[str], path: str, title: str) -> str:
    n = len(names)
    side = min(16.0, 3.5 + 0.45 * n)
    fig = new_figure(side + 1.2, side)
    ax = fig.subplots()
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros(matrix.shape, float), where=totals > 0)
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    labels = [_shorten(name, 20) for name in names]
    ax.set_xticks(range(n), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true")
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if matrix[i, j]:
                    ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=7,
                            color="white" if share[i, j] > 0.5 else "black")
    ax.set_title(title or "confusion matrix", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, "confusion matrix")


def _draw_pairs(pairs: Sequence[Tuple[int, int, int]], classes: Sequence[str], path: str, title: str) -> str:
    pairs = list(pairs)
    fig = new_figure(9.0, max(2.5, 1.0 + 0.25 * len(pairs)))
    ax = fig.subplots()
    if pairs:
        names = [f"{_shorten(classes[t], 24)} \u2192 {_shorten(classes[p], 24)}" for t, p, _ in pairs]
        counts = [c for _, _, c in pairs]
        ax.barh(range(len(pairs)), counts, color=WRONG, alpha=0.8)
        ax.set_yticks(range(len(pairs)), names, fontsize=8)
        ax.invert_yaxis()  # the most confused pair on top
        for i, count in enumerate(counts):
            ax.text(count, i, f" {count}", va="center", fontsize=8)
        ax.set_xlabel("images of the true class predicted as the other")
    else:
        ax.text(0.5, 0.5, "no confusion: every image was classified right", ha="center", va="center",
                transform=ax.transAxes)
        ax.axis("off")
    ax.set_title(title or "most confused pairs (true \u2192 predicted)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, "confusion chart")
