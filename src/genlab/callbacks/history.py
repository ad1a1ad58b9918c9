"""The run's one step axis and its logged history, as the figures read them.

**Step** = the number of training batches run so far: the `step` Lightning hands every
logger (the CSV's `step` column, W&B's `trainer/global_step`, TensorBoard's global step).
It is one axis for every model: a GAN makes `d_steps` D updates and one G update per
`d_steps` batches, so its optimizer-step count (`trainer.global_step`, as stored in
checkpoints) runs ahead of the batches; images and figures are logged at this step so they
line up with the scalars.

**History** = the rows of the run's CSV log (`csv/metrics.csv`), which runtime/history.py
keeps whole across resumes and requeues; figures drawn over training (the D trace, the JSD
trace) read it instead of keeping lists in memory that a restart would empty.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import lightning as L


def logging_step(trainer: L.Trainer) -> int:
    """The step the loggers are at (training batches run).

    Lightning keeps it in a private counter (`fit_loop.epoch_loop._batches_that_stepped`,
    what its logger connector passes as `step`; checked on Lightning 2.5–2.6.6) and has no
    public accessor; tests/test_run_record.py::test_images_and_scalars_share_one_step
    fails when the two disagree."""
    return int(trainer.fit_loop.epoch_loop._batches_that_stepped)


def history_file(trainer: L.Trainer) -> Path | None:
    """The run's CSV log, flushed so far (None without a CSV logger)."""
    from lightning.pytorch.loggers import CSVLogger

    for logger in trainer.loggers:
        if isinstance(logger, CSVLogger):
            logger.save()
            return Path(logger.experiment.metrics_file_path)
    return None


def logged_series(trainer: L.Trainer, keys: tuple[str, ...]) -> dict[str, list[float]]:
    """{"step": [...], "epoch": [...], key: [...]} over the rows that hold `keys[0]`; a key
    a row lacks is NaN. Rank 0 only (the CSV log is written by rank 0)."""
    path = history_file(trainer)
    series: dict[str, list[float]] = {k: [] for k in ("step", "epoch", *keys)}
    if path is None or not path.is_file():
        return series
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if not row.get(keys[0]):
                continue
            for key in series:
                value = row.get(key) or ""
                series[key].append(float(value) if value else math.nan)
    return series


def epoch_values(trainer: L.Trainer, prefix: str = "val/") -> dict[int, dict[str, float]]:
    """{epoch: {name: value}} of the metrics under `prefix` in the run's history: every
    epoch's validation values, including those from before a resume."""
    path = history_file(trainer)
    by_epoch: dict[int, dict[str, float]] = {}
    if path is None or not path.is_file():
        return by_epoch
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            values = {k: float(v) for k, v in row.items() if k.startswith(prefix) and v}
            if values and row.get("epoch"):
                by_epoch.setdefault(int(float(row["epoch"])), {}).update(values)
    return by_epoch
