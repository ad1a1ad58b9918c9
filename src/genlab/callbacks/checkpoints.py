"""The run's two checkpoints: `last.ckpt`, the newest state, and the best one on the
monitored metric, chosen only on epochs where that metric was measured.

Lightning's ModelCheckpoint does both jobs in one callback, and in this version it writes
`last.ckpt` only on the epochs where it also considers a top-k save; a metric measured
every N epochs (the sample-quality suite) then either raises ("could not find the
monitored key") or, with `every_n_epochs=N`, leaves `last.ckpt` up to N − 1 epochs old.
Worse, `trainer.callback_metrics` keeps a value logged in an earlier epoch, so a top-k
save in an epoch without a measurement would rank this epoch's weights by an older
epoch's score. Hence (hand-written because Lightning has no option for either):

- `LastCheckpoint`: saves `last.ckpt` at the end of every training epoch (after that
  epoch's validation) and so also at the end of fit;
- `BestCheckpoint`: forgets the monitored value when a validation epoch starts, and skips
  (instead of raising) an epoch where it was not logged again.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint


class LastCheckpoint(ModelCheckpoint):
    """`<dirpath>/last.ckpt` after every training epoch: always the newest state."""

    def __init__(self, dirpath: str, filename: str = "last", **kwargs: Any) -> None:
        super().__init__(dirpath=dirpath, filename=filename, monitor=None, save_top_k=1,
                         save_last=False, every_n_epochs=1, save_on_train_epoch_end=True,
                         enable_version_counter=False, **kwargs)

    @property
    def state_key(self) -> str:
        return "LastCheckpoint"


class BestCheckpoint(ModelCheckpoint):
    """The best checkpoint on `monitor`, ranked only on epochs that measured it."""

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.monitor is not None:
            trainer.callback_metrics.pop(self.monitor, None)  # a stale value must not rank

    def _save_topk_checkpoint(self, trainer: L.Trainer, monitor_candidates: dict) -> None:
        if self.monitor is not None and self.monitor not in monitor_candidates:
            return  # not measured this epoch
        super()._save_topk_checkpoint(trainer, monitor_candidates)
