"""Lightning callbacks that timestamp training batches, for the benchmarks.

Added to a run from the command line or an override list, with benchmarks/ on the path:
`+callbacks.step_clock._target_=step_clock.StepClock`.
"""

from __future__ import annotations

import sys
import time

import lightning as L

FIRST_STEP_MARKER = "GENLAB_BENCHMARK_FIRST_STEP"


class StepClock(L.Callback):
    """perf_counter() at the start of every training batch and at the end of the last one.
    The newest instance is `StepClock.latest`, so a caller that had it built from a config
    can read it after the run."""

    latest: StepClock | None = None

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.end = 0.0
        StepClock.latest = self

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.starts.append(time.perf_counter())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.end = time.perf_counter()

    def steps_per_second(self, warmup: int) -> float:
        """Batches per second from the start of batch `warmup` to the end of the last."""
        return (len(self.starts) - warmup) / (self.end - self.starts[warmup])


class FirstStepMarker(L.Callback):
    """Prints FIRST_STEP_MARKER (flushed) when the first training batch starts."""

    def __init__(self) -> None:
        self.printed = False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if not self.printed:
            print(FIRST_STEP_MARKER, flush=True)
            sys.stdout.flush()
            self.printed = True
