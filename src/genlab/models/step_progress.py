"""Progress with an ETA for work inside one step (the IWAE test of a large batch takes
minutes while Lightning's bar stays on one batch): a line below the run's progress bar,
shown on rank 0 only, only when the Trainer's progress bar is enabled, and only once the
work has taken `SHOW_AFTER_S` (short steps never flicker a line). Under RichProgressBar it
is a task of the bar's own rich display (a second live display is refused by rich); under
other bars a transient tqdm line."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

SHOW_AFTER_S = 2.0
REFRESH_S = 0.2  # Lightning's rich display does not refresh by itself


@contextlib.contextmanager
def step_progress(module: Any, description: str, total: int) -> Iterator[Callable[[], None]]:
    """Yield `advance()`, called once per unit of work (`total` of them) inside `module`'s
    step; a no-op without an enabled progress bar on this rank."""
    trainer = getattr(module, "_trainer", None)
    bar = getattr(trainer, "progress_bar_callback", None)
    if bar is None or not bar.is_enabled or not trainer.is_global_zero:
        yield lambda: None
        return
    line = _Line(bar, description, total)
    try:
        yield line.advance
    finally:
        line.close()


class _Line:
    def __init__(self, bar: Any, description: str, total: int) -> None:
        self.bar, self.description, self.total = bar, description, total
        self.done, self.started, self.shown_at = 0, time.monotonic(), 0.0
        self.task: Any = None

    def advance(self) -> None:
        self.done += 1
        now = time.monotonic()
        if self.task is None and now - self.started >= SHOW_AFTER_S:
            self.task = self._open()
        if self.task is not None and (now - self.shown_at >= REFRESH_S or self.done == self.total):
            self._show(now)

    def _open(self) -> Any:
        progress = getattr(self.bar, "progress", None)
        if progress is not None:  # RichProgressBar: a task of its live display
            return progress.add_task(self.description, total=self.total, completed=self.done)
        from tqdm.auto import tqdm

        return tqdm(total=self.total, initial=self.done, desc=self.description, leave=False,
                    dynamic_ncols=True)

    def _show(self, now: float) -> None:
        progress = getattr(self.bar, "progress", None)
        if progress is not None:
            progress.update(self.task, completed=self.done)
            progress.refresh()
        else:
            self.task.update(self.done - self.task.n)
        self.shown_at = now

    def close(self) -> None:
        if self.task is None:
            return
        progress = getattr(self.bar, "progress", None)
        if progress is not None:
            progress.remove_task(self.task)
            progress.refresh()
        else:
            self.task.close()
