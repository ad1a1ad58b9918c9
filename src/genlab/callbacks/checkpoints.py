"""The run's two checkpoints: `last.ckpt`, the newest state, and the best one on the
monitored metric, chosen only on epochs where that metric was measured.

Lightning's ModelCheckpoint does both jobs in one callback, and in this version it writes
`last.ckpt` only on the epochs where it also considers a top-k save; a metric measured
every N epochs (the sample-quality suite) then either raises ("could not find the
monitored key") or, with `every_n_epochs=N`, leaves `last.ckpt` up to N − 1 epochs old.
Worse, `trainer.callback_metrics` keeps a value logged in an earlier epoch, so a top-k
save in an epoch without a measurement would rank this epoch's weights by an older
epoch's score. Hence (hand-written because Lightning has no option for either):

- `LastCheckpoint`: saves `last.ckpt` at the end of a training epoch (after that epoch's
  validation) when `min_interval_s` seconds have passed since its last save, and always
  after the first epoch and the last one (so at the end of fit it is the final state).
  Every epoch cost ~8 ms of a 30 ms digits epoch (benchmarks/README.md); Lightning's own
  `train_time_interval` saves on batch ends only, so it would miss the final epoch's
  validation, and it times each rank on its own clock. A hard kill (SIGKILL, OOM) loses
  at most `min_interval_s` of training; SLURM's SIGTERM still checkpoints at once
  (callbacks/preemption.py);
- `BestCheckpoint`: forgets the monitored value when a validation epoch starts, and skips
  (instead of raising) an epoch where it was not logged again, or logged NaN/inf
  (Lightning saves a NaN score while its top k is not full: a diverged first epoch would
  be "best").

Both refuse to write weights holding NaN/inf (NonFiniteError), also when the run has no
NonFiniteGuard (genlab/callbacks/nan_guard.py), so the newest checkpoint on disk stays the
last good one.
"""

from __future__ import annotations

import os
import time
from typing import Annotated, Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_warn

from genlab.callbacks.history import logging_step
from genlab.callbacks.nan_guard import check_weights
from genlab.callbacks.schedule import final_epoch
from genlab.config.keys import Key


class _FiniteWeightsOnly(ModelCheckpoint):
    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        check_weights(trainer.lightning_module, logging_step(trainer))
        super()._save_checkpoint(trainer, filepath)


class LastCheckpoint(_FiniteWeightsOnly):
    """`<dirpath>/last.ckpt`: the newest state, behind the training by at most
    `min_interval_s` seconds plus one epoch (0: saved after every epoch), and the final
    state once fit ends."""

    def __init__(self,
                 dirpath: Annotated[str, Key("where last.ckpt is written", kind="path")],
                 filename: Annotated[str, Key("its name, without .ckpt")] = "last",
                 min_interval_s: Annotated[float, Key(
                     "at most one save per this many seconds (the final epoch always; 0: "
                     "every epoch)", min=0)] = 0.0,
                 **kwargs: Any) -> None:
        super().__init__(dirpath=dirpath, filename=filename, monitor=None, save_top_k=1,
                         save_last=False, every_n_epochs=1, save_on_train_epoch_end=True,
                         enable_version_counter=False, **kwargs)
        if min_interval_s < 0:
            raise ValueError(f"min_interval_s must be ≥ 0, got {min_interval_s}")
        self.min_interval_s = float(min_interval_s)
        self._saved_at: float | None = None  # time.monotonic() of this process's last save

    @property
    def state_key(self) -> str:
        return "LastCheckpoint"

    def _due(self, trainer: L.Trainer) -> bool:
        """Save at this epoch end? The first and the final epoch always; in between once
        `min_interval_s` has passed on rank 0's clock (every rank must take the same
        decision: a save is collective under DDP)."""
        if self.min_interval_s == 0 or self._saved_at is None or final_epoch(trainer):
            return True
        due = time.monotonic() - self._saved_at >= self.min_interval_s
        if trainer.world_size > 1:
            due = bool(trainer.strategy.broadcast(due, src=0))
        return due

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._should_skip_saving_checkpoint(trainer) or not self._due(trainer):
            return
        super().on_train_epoch_end(trainer, pl_module)
        self._saved_at = time.monotonic()


def final_checkpoint_path(trainer: L.Trainer) -> str:
    """Where a run that is stopped early writes its final state: the LastCheckpoint's
    `last.ckpt`, or `<run>/checkpoints/last.ckpt` when the run has none."""
    last = next((c for c in trainer.callbacks if isinstance(c, LastCheckpoint)), None)
    if last is not None and last.dirpath:
        return os.path.join(last.dirpath, f"{last.filename}{last.FILE_EXTENSION}")
    return os.path.join(trainer.default_root_dir, "checkpoints", "last.ckpt")


class BestCheckpoint(_FiniteWeightsOnly):
    """The best checkpoint on `monitor`, ranked only on epochs that measured it."""

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.monitor is not None:
            trainer.callback_metrics.pop(self.monitor, None)  # a stale value must not rank

    def _save_topk_checkpoint(self, trainer: L.Trainer, monitor_candidates: dict) -> None:
        if self.monitor is not None and self.monitor not in monitor_candidates:
            return  # not measured this epoch
        score = monitor_candidates.get(self.monitor) if self.monitor is not None else None
        if score is not None and not torch.isfinite(torch.as_tensor(score)).all():
            rank_zero_warn(f"{self.monitor} = {float(score)} at step "
                           f"{logging_step(trainer)}: not ranked for the best checkpoint.")
            return
        super()._save_topk_checkpoint(trainer, monitor_candidates)
