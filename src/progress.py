"""Progress of long non-training work (evaluation, image checks, export parity, weight conversion, prediction).

On a terminal: a tqdm bar on stderr with the rate and the time left. Elsewhere (a log file, a pipe, CI): plain
lines on stderr, at most one every `interval` seconds, in one fixed format that log parsers can read:

    eval: 1024/50000 img (2%), 310.2 img/s, eta 0:02:38
    eval: done 50000 img in 0:02:41, 310.6 img/s

Nothing is shown for work that ends within `delay` seconds, so small jobs (and the test suite) stay quiet.
Training keeps its own log lines (engine/callbacks.py) and uses none of this.
"""
import sys
import time
from typing import Callable, Iterable, Iterator, Optional, TextIO, TypeVar

T = TypeVar("T")

DELAY = 2.0        # seconds of silence before anything is shown
INTERVAL = 30.0    # seconds between two plain lines


def format_duration(seconds: float) -> str:
    """H:MM:SS (tqdm's format, so bar and plain lines read alike)."""
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def is_terminal(stream: TextIO) -> bool:
    """Whether `stream` is attached to a terminal (a closed or odd stream counts as not)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """Counts work done; shows a tqdm bar on a terminal, else plain periodic lines (see the module docstring).

    total: the amount of work (None: unknown). unit: what is counted (img, file, model, ...). stream: default
    sys.stderr, looked up when the progress starts (so that tests capturing stderr see it). delay, interval:
    seconds (defaults DELAY, INTERVAL). clock: a monotonic clock (tests pass a fake one)."""

    def __init__(self, total: Optional[int], desc: str, unit: str = "it", *, stream: Optional[TextIO] = None,
                 delay: Optional[float] = None, interval: Optional[float] = None,
                 clock: Callable[[], float] = time.monotonic):
        self.total = total
        self.desc = desc
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.delay = DELAY if delay is None else delay
        self.interval = INTERVAL if interval is None else interval
        self.clock = clock
        self.count = 0
        self.start = clock()
        self.last_line: Optional[float] = None   # when the last plain line was written
        self.lines = 0
        self.closed = False
        self.bar = None
        if is_terminal(self.stream):
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream, delay=self.delay,
                            dynamic_ncols=True, leave=True)

    def update(self, n: int = 1, note: str = "") -> None:
        """Count `n` more units of work done; `note` says what was just done (shown after the counts)."""
        self.count += n
        if self.bar is not None:
            if note:
                self.bar.set_postfix_str(note, refresh=False)
            self.bar.update(n)
            return
        now = self.clock()
        if now - self.start < self.delay:
            return
        if self.last_line is None or now - self.last_line >= self.interval:
            self._write(self._progress_line(now) + (f" ({note})" if note else ""))
            self.last_line = now

    def close(self) -> None:
        """End the bar, or write the closing plain line (when the work took longer than `delay`)."""
        if self.closed:
            return
        self.closed = True
        if self.bar is not None:
            self.bar.close()
            return
        now = self.clock()
        if now - self.start >= self.delay or self.lines:
            elapsed = now - self.start
            rate = self.count / elapsed if elapsed > 0 else 0.0
            self._write(f"{self.desc}: done {self.count} {self.unit} in {format_duration(elapsed)}, "
                        f"{rate:.1f} {self.unit}/s")

    def _progress_line(self, now: float) -> str:
        elapsed = now - self.start
        rate = self.count / elapsed if elapsed > 0 else 0.0
        if not self.total:
            return f"{self.desc}: {self.count} {self.unit}, {rate:.1f} {self.unit}/s"
        left = (self.total - self.count) / rate if rate > 0 else float("nan")
        eta = format_duration(left) if left == left else "?"
        return (f"{self.desc}: {self.count}/{self.total} {self.unit} ({100 * self.count / self.total:.0f}%), "
                f"{rate:.1f} {self.unit}/s, eta {eta}")

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()
        self.lines += 1

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def track(items: Iterable[T], desc: str, unit: str = "it", total: Optional[int] = None,
          **kwargs) -> Iterator[T]:
    """Iterate over `items`, counting one unit per item (total: len(items) when it has one)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)
    with Progress(total, desc, unit, **kwargs) as progress:
        for item in items:
            yield item
            progress.update(1)
