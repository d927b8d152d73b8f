"""Progress output (src/progress.py): plain periodic lines off a terminal, nothing for short work, a tqdm bar on a
terminal."""
import io
import re

from src.progress import Progress, track


PLAIN_LINE = re.compile(r"^eval: (\d+)/100 img \((\d+)%\), [\d.]+ img/s, eta \d+:\d\d:\d\d$")


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_off_a_terminal_is_plain_periodic_lines():
    stream, clock = io.StringIO(), FakeClock()
    with Progress(100, "eval", "img", stream=stream, delay=2.0, interval=10.0, clock=clock) as progress:
        for _ in range(100):
            clock.now += 0.5          # 2 images a second: 50 s in all
            progress.update(1)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()  # no bar redraws in a log file
    periodic = [PLAIN_LINE.match(line) for line in lines[:-1]]
    assert all(periodic), lines
    # the first line once 2 s have passed (4 images), then one every 10 s (20 images)
    assert [int(m.group(1)) for m in periodic] == [4, 24, 44, 64, 84]
    assert re.match(r"^eval: \d+/100 img \(\d+%\), 2\.0 img/s, eta 0:00:48$", lines[0])
    assert lines[-1] == "eval: done 100 img in 0:00:50, 2.0 img/s"


def test_progress_is_silent_for_short_work():
    stream, clock = io.StringIO(), FakeClock()
    for _ in track(range(50), "check", "file", stream=stream, delay=2.0, clock=clock):
        clock.now += 0.01
    assert stream.getvalue() == ""


def test_progress_on_a_terminal_is_a_tqdm_bar_with_rate_and_time_left():
    stream = Terminal()
    with Progress(40, "predict", "img", stream=stream, delay=0.0) as progress:
        for _ in range(40):
            progress.update(1, note="batch")
    text = stream.getvalue()
    assert "\r" in text and "predict" in text and "40/40" in text
    assert re.search(r"img/s", text) and re.search(r"<\d\d:\d\d", text)  # rate and time left
