"""A run's metric history across restarts: where a checkpoint left the run, and the CSV log
that keeps every row written before that point.

Lightning's CSVLogger deletes `metrics.csv` when it finds one ("Previous log files in this
directory will be deleted"), so every resume, requeue and `run_id=NAME resume=auto` rerun
used to lose the history up to the checkpoint. `RunCSVLogger` instead keeps the rows logged
*before* the checkpoint's position and drops those logged after it (a run killed mid-epoch
logged rows that the resumed run logs again), so a resumed run's `csv/metrics.csv` is the
file an uninterrupted twin writes (tests/test_run_record.py). Hand-written because no
Lightning logger has a notion of "continue from this checkpoint".

The position is Lightning's own logging step (the number of training batches run, what
every logger is given as `step`; one axis for VAEs and GANs, whatever their optimiser
count) and the epoch the resumed run continues in.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import Any

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

from genlab import run_dir
from genlab.errors import WriteFailedError


@dataclass(frozen=True)
class ResumePoint:
    """Where a checkpoint's run continues: in `epoch` (0-based), at logging step `step`."""

    epoch: int
    step: int
    global_step: int  # optimizer steps (GANs: more than one per batch)

    def logged_before(self, row: dict[str, str]) -> bool:
        """True for a CSV row written before the checkpoint was taken."""
        step = int(float(row["step"]))
        epoch = row.get("epoch") or ""
        if epoch == "":
            return step < self.step
        epoch = int(float(epoch))
        return epoch < self.epoch or (epoch == self.epoch and step < self.step)


def resume_point(checkpoint: dict[str, Any]) -> ResumePoint:
    """The position stored in a Lightning checkpoint's loop state.

    `epoch_progress.current.processed` is the epoch the resumed fit runs next: a checkpoint
    written at an epoch's end has that epoch processed (the next one follows), one written
    mid-epoch (SLURM preemption) has not (that epoch goes on)."""
    loop = checkpoint.get("loops", {}).get("fit_loop", {})
    step = loop.get("epoch_loop.state_dict", {}).get("_batches_that_stepped")
    epoch = loop.get("epoch_progress", {}).get("current", {}).get("processed")
    if step is None or epoch is None:  # not a Lightning training checkpoint: treat as fresh
        return ResumePoint(epoch=0, step=0, global_step=int(checkpoint.get("global_step", 0)))
    return ResumePoint(epoch=int(epoch), step=int(step),
                       global_step=int(checkpoint.get("global_step", 0)))


class _ContinuedWriter(ExperimentWriter):
    """Lightning's CSV writer, but an existing metrics.csv is cut at `resume_at`, not
    deleted (None: a fresh run, the file is replaced)."""

    def __init__(self, log_dir: str, resume_at: ResumePoint | None) -> None:
        self._resume_at = resume_at
        super().__init__(log_dir=log_dir)

    def _check_log_dir_exists(self) -> None:
        path = self.metrics_file_path
        if not os.path.isfile(path):
            return
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            header, rows = list(reader.fieldnames or []), list(reader)
        kept = [r for r in rows if self._resume_at and self._resume_at.logged_before(r)]
        if not kept:
            os.unlink(path)
            return
        with run_dir.atomic_write(path, "w") as f:
            writer = csv.DictWriter(f, fieldnames=header, lineterminator="\r\n")
            writer.writeheader()
            writer.writerows(kept)
        self.metrics_keys = header  # new rows append under the same header

    def save(self) -> None:
        """Lightning's append, with a failed write named (an append's OSError names no
        file)."""
        try:
            super().save()
        except OSError as err:
            if err.errno not in run_dir.WRITE_ERRNOS or isinstance(err, WriteFailedError):
                raise
            raise WriteFailedError(run_dir.why_write_failed(self.metrics_file_path, err)) \
                from err

    def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
        """Lightning rewrites the file in place ("w"): a full disk would leave it cut
        short. Here the old file stays until the new one is whole."""
        with open(self.metrics_file_path, newline="") as f:
            rows = list(csv.DictReader(f))
        with run_dir.atomic_write(self.metrics_file_path, "w") as f:
            writer = csv.DictWriter(f, fieldnames=fieldnames, lineterminator="\r\n")
            writer.writeheader()
            writer.writerows(rows)


class RunCSVLogger(CSVLogger):
    """`csv/metrics.csv`, continued across resumes (see the module docstring)."""

    def __init__(self, *args: Any, resume_at: ResumePoint | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.resume_at = resume_at

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ContinuedWriter(self.log_dir, self.resume_at)
        return self._experiment
