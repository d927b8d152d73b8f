"""The step timer and the process's peak memory."""
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Callable, List


@dataclass
class StepTimes:
    """Wall-clock seconds of the timed steps (after the warm-up) and of the first, untimed step, and the CPU
    seconds (all threads of the process) of each timed step."""
    first: float
    steps: List[float]
    cpu: List[float]

    @property
    def median(self) -> float:
        return statistics.median(self.steps)

    def summary(self, batch_size: int) -> dict:
        """img/s and ms per step from the median step; the fastest and slowest step show the spread. The CPU time
        per step hardly depends on what else runs on the machine (with one thread it is the work itself; with
        several it includes their waiting), which makes it the steadier figure on a busy machine."""
        median = self.median
        return {"img_s": batch_size / median, "ms_step": 1000 * median, "ms_step_min": 1000 * min(self.steps),
                "ms_step_max": 1000 * max(self.steps), "cpu_ms_step": 1000 * statistics.median(self.cpu),
                "first_step_s": self.first, "iters": len(self.steps)}


def time_steps(step: Callable[[], object], warmup: int, iters: int) -> StepTimes:
    """Run `step` 1 + `warmup` + `iters` times and time each of the last `iters` calls.

    `step` must block until its work is done (e.g. end with `.asnumpy()` or read a value back)."""
    if warmup < 0 or iters < 1:
        raise ValueError(f"need warmup >= 0 and iters >= 1, got warmup={warmup}, iters={iters}")
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    for _ in range(warmup):
        step()
    times, cpu = [], []
    for _ in range(iters):
        start, start_cpu = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return StepTimes(first, times, cpu)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
