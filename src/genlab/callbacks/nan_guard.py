"""Stop a run at the first non-finite loss, before a NaN model can be checkpointed.

Lightning's `detect_anomaly` slows every step and names no loss; its
`terminate_on_nan` is gone. This guard checks the step's logged `train/*loss*` values
(so it works for manual optimisation too) and, before any checkpoint is written, the
weights themselves: the last good checkpoint stays the newest one on disk.
"""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from genlab.errors import NonFiniteError


class NonFiniteGuard(Callback):
    def __init__(self, every_n_steps: int = 1) -> None:
        self.every_n_steps = every_n_steps

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs,
                           batch, batch_idx: int) -> None:
        if self.every_n_steps <= 0 or trainer.global_step % self.every_n_steps:
            return
        losses = {k: v for k, v in trainer.callback_metrics.items()
                  if k.startswith("train/") and "loss" in k}
        if not losses and isinstance(outputs, dict) and "loss" in outputs:
            losses["loss"] = outputs["loss"].detach()
        if not losses:
            return
        # one host sync for all losses together
        finite = torch.stack([v.detach().float().reshape(()) for v in losses.values()])
        finite = torch.isfinite(finite).cpu()
        if not finite.all():
            bad = [name for name, ok in zip(losses, finite.tolist(), strict=True) if not ok]
            raise NonFiniteError(
                f"Non-finite {', '.join(bad)} at global step {trainer.global_step} (epoch "
                f"{trainer.current_epoch}); training stopped and no checkpoint was written "
                "from this state. Lower the learning rate, check the data for NaN/inf, or try "
                "trainer.gradient_clip_val / a different precision.")

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Runs before ModelCheckpoint (Lightning puts checkpoint callbacks last).
        if not trainer.sanity_checking:
            check_weights(pl_module, trainer.global_step)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        check_weights(pl_module, trainer.global_step)


def check_weights(module: torch.nn.Module, step: int) -> None:
    """Raise NonFiniteError naming the first parameter holding NaN/inf."""
    flags = torch.stack([torch.isfinite(p).all() for p in module.parameters()]).cpu()
    if not flags.all():
        name = [n for n, _ in module.named_parameters()][int((~flags).nonzero()[0])]
        raise NonFiniteError(
            f"Parameter `{name}` holds NaN/inf at global step {step}; training stopped "
            "before a checkpoint of these weights could be written.")
