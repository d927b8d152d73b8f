"""The training report: OUTPUT_DIR/summary.csv (a row per epoch), OUTPUT_DIR/steps.csv (the loss and lr of every
step) and OUTPUT_DIR/curves.png, written by rank 0 as a run goes; and the reading of a run's history back, from
those files or, for runs written before them, from the log lines of train.log.

summary.csv columns: epoch, train_loss (mean over the epoch's steps), last_loss (the `loss is` of the epoch's
log line), lr (of the epoch's last step), img_per_sec and epoch_seconds (the `epoch time` log line's numbers),
val_top1, val_top5 (empty on epochs without validation), best_top1, best_epoch (the best so far, as the
validation log line says). A resumed run continues the files: rows of epochs after the resumed one are dropped,
so no epoch appears twice. Files are rewritten atomically after every epoch.
"""
import csv
import io
import os
import re
from dataclasses import dataclass, field, fields
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mindspore.train.callback import Callback

from ..outputs import atomic_write_text
from ..runtime import LOG

SUMMARY_NAME = "summary.csv"
STEPS_NAME = "steps.csv"
CURVES_NAME = "curves.png"
LOG_NAMES = ("train.log", "train_rank0.log")


@dataclass
class EpochRow:
    """One row of summary.csv (None: an empty cell)."""
    epoch: int
    train_loss: Optional[float] = None
    last_loss: Optional[float] = None
    lr: Optional[float] = None
    img_per_sec: Optional[float] = None
    epoch_seconds: Optional[float] = None
    val_top1: Optional[float] = None
    val_top5: Optional[float] = None
    best_top1: Optional[float] = None
    best_epoch: Optional[int] = None


@dataclass
class StepPoint:
    """One row of steps.csv: the global step (1-based), its epoch, loss and lr (None where a log did not say)."""
    step: int
    epoch: int
    loss: float
    lr: Optional[float] = None


SUMMARY_COLUMNS = tuple(f.name for f in fields(EpochRow))
STEP_COLUMNS = tuple(f.name for f in fields(StepPoint))
_INT_COLUMNS = ("epoch", "best_epoch", "step")
_FORMATS = {"img_per_sec": "{:.1f}", "epoch_seconds": "{:.6f}"}  # as the epoch-time log line rounds them


@dataclass
class RunHistory:
    """What a run's curves are drawn from."""
    label: str
    steps_per_epoch: int = 0
    rows: List[EpochRow] = field(default_factory=list)
    steps: List[StepPoint] = field(default_factory=list)
    source: str = ""          # where it was read from: summary.csv, train.log, or "" for a running report

    def best(self) -> Optional[Tuple[float, int]]:
        """(top-1, epoch) of the best validation so far (as the last row records it), or None."""
        for row in reversed(self.rows):
            if row.best_top1 is not None and row.best_epoch is not None:
                return row.best_top1, row.best_epoch
        validated = [r for r in self.rows if r.val_top1 is not None]
        if not validated:
            return None
        top = max(validated, key=lambda r: r.val_top1)
        return top.val_top1, top.epoch

    def truncate(self, epoch: int) -> None:
        """Drop the rows and steps of epochs after `epoch` (a resumed run redoes them)."""
        self.rows = [r for r in self.rows if r.epoch <= epoch]
        self.steps = [p for p in self.steps if p.epoch <= epoch]


# ----------------------------------------------------------------------------------------------------- CSV files
def _cell(name: str, value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return _FORMATS.get(name, "{!r}").format(value)
    return str(value)


def format_csv(columns: Sequence[str], records: Sequence) -> str:
    """CSV text with a header of `columns` and a line per dataclass record."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow([_cell(c, getattr(record, c)) for c in columns])
    return out.getvalue()


def _parse_cell(text: str, kind, where: str):
    if text == "":
        return None
    try:
        return kind(float(text)) if kind is int else kind(text)
    except ValueError:
        raise ValueError(f"{where}: '{text}' is not a number") from None


def read_csv_records(path: str, record_type, columns: Sequence[str]) -> List:
    """The records of a CSV file written by format_csv; ValueError naming the file, line and bad value."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or columns[0] not in reader.fieldnames:
            raise ValueError(f"'{path}' is not a {os.path.basename(path)} of this project: its header is "
                             f"{reader.fieldnames}, expected {', '.join(columns)}")
        records = []
        for line, values in enumerate(reader, start=2):
            kwargs = {c: _parse_cell(values.get(c) or "", int if c in _INT_COLUMNS else float,
                                     f"'{path}' line {line}, column {c}")
                      for c in columns if c in values}
            if kwargs.get(columns[0]) is None:
                raise ValueError(f"'{path}' line {line}: no {columns[0]}")
            records.append(record_type(**kwargs))
    return records


def write_report_files(output_dir: str, history: RunHistory) -> None:
    """summary.csv and steps.csv of `history`, each written atomically."""
    atomic_write_text(os.path.join(output_dir, SUMMARY_NAME), format_csv(SUMMARY_COLUMNS, history.rows))
    atomic_write_text(os.path.join(output_dir, STEPS_NAME), format_csv(STEP_COLUMNS, history.steps))


# ----------------------------------------------------------------------------------------------------- train.log
_NUMBER = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf)"
_INTERVAL = re.compile(rf"epoch: (\d+) step: \[(\d+)/(\d+)\], loss: ({_NUMBER}), lr: ({_NUMBER})")
_EPOCH_END = re.compile(rf"epoch: (\d+) step: (\d+), loss is ({_NUMBER})")
_EPOCH_TIME = re.compile(r"epoch time: ([\d.]+) ms, per step time: ([\d.]+) ms(?:, ([\d.]+) img/s)?")
_VALIDATION = re.compile(r"epoch: (\d+) (?:EMA )?validation: top_1_accuracy ([\d.]+), top_5_accuracy ([\d.]+)"
                         r".*?; best ([\d.]+) at epoch (\d+)")
_RUN_START = re.compile(r"model \S+: [\d,]+ parameters")
_RESUMED = re.compile(r"resumed from .+: epoch (\d+) done")


def parse_train_log(path: str, label: str = "") -> RunHistory:
    """A run's history from the log lines of its train.log (the zoo's epoch lines, the progress lines every
    log_interval steps, the epoch-time and validation lines). train.log collects every process of a run: a
    resumed process drops the epochs after the one it resumed from, a fresh one starts the history anew. The
    train loss of an epoch is the mean of the losses logged in it (all of them only with log_interval 1)."""
    epochs: Dict[int, Dict] = {}
    steps_per_epoch = 0
    fresh_start = False
    last_epoch = None
    with open(path, errors="replace") as f:
        for line in f:
            if _RUN_START.search(line):
                fresh_start = True
                continue
            match = _RESUMED.search(line)
            if match:
                keep = int(match.group(1))
                epochs = {e: d for e, d in epochs.items() if e <= keep}
                fresh_start = False
                continue
            match = (_INTERVAL.search(line) or _EPOCH_END.search(line) or _VALIDATION.search(line))
            if match and fresh_start:
                epochs, fresh_start = {}, False
            if match and match.re is _INTERVAL:
                epoch, step, steps_per_epoch = int(match.group(1)), int(match.group(2)), int(match.group(3))
                data = epochs.setdefault(epoch, {"points": []})
                data["points"].append((step, float(match.group(4)), float(match.group(5))))
                data["lr"] = float(match.group(5))
            elif match and match.re is _EPOCH_END:
                epoch, steps_per_epoch = int(match.group(1)), int(match.group(2))
                data = epochs.setdefault(epoch, {"points": []})
                data["points"].append((steps_per_epoch, float(match.group(3)), None))
                data["last_loss"] = float(match.group(3))
                last_epoch = epoch
            elif match:
                data = epochs.setdefault(int(match.group(1)), {"points": []})
                data.update(val_top1=float(match.group(2)), val_top5=float(match.group(3)),
                            best_top1=float(match.group(4)), best_epoch=int(match.group(5)))
            else:
                match = _EPOCH_TIME.search(line)
                if match and last_epoch in epochs:
                    epochs[last_epoch]["epoch_seconds"] = float(match.group(1)) / 1000
                    if match.group(3):
                        epochs[last_epoch]["img_per_sec"] = float(match.group(3))
    history = RunHistory(label or os.path.basename(os.path.dirname(os.path.abspath(path))), steps_per_epoch,
                         source=os.path.basename(path))
    best = (None, None)
    for epoch in sorted(epochs):
        data = epochs[epoch]
        points = sorted(data["points"])
        if "best_top1" in data:
            best = (data["best_top1"], data["best_epoch"])
        losses = [loss for _, loss, _ in points]
        history.rows.append(EpochRow(epoch, float(np.mean(losses)) if losses else None, data.get("last_loss"),
                                     data.get("lr"), data.get("img_per_sec"), data.get("epoch_seconds"),
                                     data.get("val_top1"), data.get("val_top5"), *best))
        history.steps += [StepPoint((epoch - 1) * steps_per_epoch + step, epoch, loss, lr)
                          for step, loss, lr in points]
    return history


# ----------------------------------------------------------------------------------------------------- reading
def find_log(output_dir: str) -> Optional[str]:
    """The run's log (train.log, or rank 0's of a distributed run), or None."""
    for name in LOG_NAMES:
        path = os.path.join(output_dir, name)
        if os.path.isfile(path):
            return path
    return None


def read_run(output_dir: str, label: str = "") -> RunHistory:
    """A run's history: from summary.csv (and steps.csv when there) or, for runs written before this report
    existed, from train.log. FileNotFoundError when the folder has neither."""
    if not os.path.isdir(output_dir):
        raise FileNotFoundError(f"run folder '{output_dir}' does not exist")
    label = label or os.path.basename(os.path.abspath(output_dir))
    summary = os.path.join(output_dir, SUMMARY_NAME)
    if os.path.isfile(summary):
        rows = read_csv_records(summary, EpochRow, SUMMARY_COLUMNS)
        steps_path = os.path.join(output_dir, STEPS_NAME)
        steps = read_csv_records(steps_path, StepPoint, STEP_COLUMNS) if os.path.isfile(steps_path) else []
        return RunHistory(label, _steps_per_epoch(steps), rows, steps, SUMMARY_NAME)
    log = find_log(output_dir)
    if log is None:
        raise FileNotFoundError(f"'{output_dir}' holds no {SUMMARY_NAME} and no {' or '.join(LOG_NAMES)}: is it "
                                f"the --output_dir of a training run?")
    history = parse_train_log(log, label)
    if not history.rows:
        raise ValueError(f"'{log}' holds no epoch lines ('epoch: N step: S, loss is L'); nothing to draw")
    return history


def _steps_per_epoch(steps: Sequence[StepPoint]) -> int:
    """Steps of a full epoch: the largest step count of one epoch (the first may be partial after a resume)."""
    counts: Dict[int, int] = {}
    for point in steps:
        counts[point.epoch] = counts.get(point.epoch, 0) + 1
    return max(counts.values()) if counts else 0


def start_history(output_dir: str, steps_per_epoch: int, resume_epoch: Optional[int]) -> RunHistory:
    """The history a run starts with: empty for a fresh run; for a run resumed after `resume_epoch`, what the
    folder's summary.csv (or, for a run started before it existed, train.log) holds up to that epoch."""
    history = RunHistory(os.path.basename(os.path.abspath(output_dir)), steps_per_epoch)
    if resume_epoch is None:
        return history
    try:
        earlier = read_run(output_dir)
    except FileNotFoundError:
        return history
    except ValueError as e:
        LOG.info(f"note: the earlier history cannot be read ({e}); {SUMMARY_NAME} starts anew at epoch "
                 f"{resume_epoch + 1}")
        return history
    earlier.truncate(resume_epoch)
    history.rows, history.steps = earlier.rows, earlier.steps
    if history.rows:
        LOG.info(f"{SUMMARY_NAME}: continuing the {len(history.rows)} epoch row(s) up to epoch {resume_epoch} "
                 f"(from {earlier.source}); rows of later epochs are dropped")
    return history


# ----------------------------------------------------------------------------------------------------- callback
class TrainingReport(Callback):
    """Writes summary.csv and steps.csv after every epoch, and curves.png after every validation and at the end.

    Place it after `monitor` (a TrainMonitor: the epoch's logged loss, time and throughput) and `validator` (a
    ValidateAndKeepBest or None: the epoch's validation and the best so far) in the callback list, so that it
    records the numbers they logged. `lr`: the per-step lr array; `resume_epoch`: the epoch a resumed run
    continues after (None for a fresh run)."""

    def __init__(self, output_dir: str, steps_per_epoch: int, lr: np.ndarray, total_epochs: int, monitor,
                 validator=None, resume_epoch: Optional[int] = None, title: str = ""):
        super().__init__()
        self.output_dir = output_dir
        self.lr = np.asarray(lr)
        self.total_epochs = total_epochs
        self.monitor = monitor
        self.validator = validator
        self.title = title
        self.history = start_history(output_dir, steps_per_epoch, resume_epoch)
        self.history.steps_per_epoch = steps_per_epoch
        self.curves_path = os.path.join(output_dir, CURVES_NAME)

    def on_train_step_end(self, run_context):
        cb = run_context.original_args()
        step = int(cb.optimizer.global_step.asnumpy().reshape(-1)[0])  # survives a resume, as in TrainMonitor
        lr = float(self.lr[min(step - 1, len(self.lr) - 1)])
        self.history.steps.append(StepPoint(step, cb.cur_epoch_num, self.monitor.last_loss, lr))

    def on_train_epoch_end(self, run_context):
        epoch = run_context.original_args().cur_epoch_num
        losses = [p.loss for p in self.history.steps if p.epoch == epoch]
        lr = next((p.lr for p in reversed(self.history.steps) if p.epoch == epoch), None)
        row = EpochRow(epoch, float(np.mean(losses)) if losses else None, self.monitor.last_loss, lr,
                       self.monitor.last_rate, self.monitor.last_epoch_ms / 1000)
        validated = False
        if self.validator is not None:
            last = self.validator.history[-1] if self.validator.history else None
            if last is not None and last["epoch"] == epoch:
                row.val_top1, row.val_top5 = last["top_1_accuracy"], last["top_5_accuracy"]
                validated = True
            if self.validator.best >= 0:
                row.best_top1, row.best_epoch = self.validator.best, self.validator.best_epoch
        self.history.rows = [r for r in self.history.rows if r.epoch != epoch] + [row]
        write_report_files(self.output_dir, self.history)
        if validated or epoch == self.total_epochs:
            self.draw()

    def draw(self) -> str:
        """Redraw curves.png from the history so far."""
        from ..plots import draw_curves
        return draw_curves([self.history], self.curves_path, self.title)


def draw_validation_grid(net, source, preprocessing, count: int, path: str, batch_size: int = 32,
                         title: str = "") -> Tuple[Optional[str], str]:
    """(path written or None, a line for the log): the network's predictions on `count` images of a validation
    split of image files, taken in turn from each class."""
    from ..prediction import (Predictor, accuracy, draw_grid, network_predict, padded_predict, predict_files,
                              spread_over_classes)
    if source is None or source.kind != "folder":
        what = "no validation split" if source is None else f"the {source.kind} validation split holds no image files"
        return None, f"prediction grid: {what}; none drawn"
    chosen = [p for p, _ in spread_over_classes(source.samples, lambda s: s[1], count)]
    batch = min(batch_size, len(chosen))
    predictor = Predictor(padded_predict(network_predict(net), batch), list(source.classes), preprocessing,
                          "", "", "the network in memory")
    run = predict_files(predictor, chosen, batch, 1)
    if not run.predictions:
        return None, f"prediction grid: none of the {len(chosen)} chosen images could be read; none drawn"
    right, known = accuracy(run.predictions) or (0, 0)
    written = draw_grid(run, predictor.classes, path, count, title)
    return written, f"prediction grid: {written} ({right} of {known} right)"
