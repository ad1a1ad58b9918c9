"""Stop a run at the first non-finite loss, validation metric or weight, before a NaN model
can be checkpointed.

Lightning's `detect_anomaly` slows every step and names no loss; its `terminate_on_nan` is
gone. This guard records every training step's losses (the `loss`-named tensors the
training step returns: the VAE's loss, the GAN's `train/d_loss` and `train/g_loss`) into a
small buffer on their own device, a copy that needs no host sync, and reads the buffer back
every `every_n_steps` steps (the logging interval by default, where Lightning syncs anyway),
at each validation and epoch end, and before any checkpoint is written. A non-finite value
stops the run naming the FIRST step that had it and its value, wherever it falls between
two reads. Non-finite weights show in the next step's loss; they are also checked at each
epoch end and before each checkpoint, and the validation metrics (`val/*`) after each
validation, before the checkpoint callbacks (Lightning runs those last) can rank them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from genlab.callbacks.history import logging_step
from genlab.config.keys import Key
from genlab.errors import NonFiniteError

ADVICE = ("Lower the learning rate, check the data for NaN/inf, or try "
          "trainer.gradient_clip_val / a different precision.")


def step_losses(outputs: Any) -> dict[str, torch.Tensor]:
    """{metric name: scalar loss} of what a training step returned: a tensor (or a dict's
    `loss`, as automatic optimisation passes it) is `train/loss`; other dict entries count
    when their name holds `loss`."""
    if isinstance(outputs, torch.Tensor):
        outputs = {"loss": outputs}
    if not isinstance(outputs, Mapping):
        return {}
    return {("train/loss" if k == "loss" else k): v.detach().reshape(())
            for k, v in outputs.items()
            if "loss" in k and isinstance(v, torch.Tensor) and v.numel() == 1}


class NonFiniteGuard(Callback):
    """`every_n_steps`: how often (in training batches) the recorded losses are read back
    to the host; 0 turns the guard off."""

    def __init__(self, every_n_steps: Annotated[int, Key(
            "check the losses every this many steps (a host sync; 0: off)",
            min=0)] = 1) -> None:
        self.every_n_steps = every_n_steps
        self._buffers: dict[str, torch.Tensor] = {}  # name → (every_n_steps,) losses
        self._rows: list[tuple[int, int, int]] = []  # (step, epoch, batch) per row
        self._step = 0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch,
                             batch_idx: int) -> None:
        self._step = logging_step(trainer)  # the step (batches run) of this batch's losses

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs,
                           batch, batch_idx: int) -> None:
        if self.every_n_steps <= 0:
            return
        row = len(self._rows)
        for name, value in step_losses(outputs).items():
            buffer = self._buffers.get(name)
            if buffer is None:
                buffer = self._buffers[name] = torch.zeros(self.every_n_steps,
                                                           device=value.device)
            buffer[row] = value  # a device-side copy: no host sync
        self._rows.append((self._step, trainer.current_epoch, batch_idx))
        if len(self._rows) == self.every_n_steps:
            self._check_losses(trainer)

    def _check_losses(self, trainer: L.Trainer) -> None:
        """Read the recorded rows back (one host sync) and raise for the first bad one."""
        rows, self._rows = self._rows, []
        if not rows or not self._buffers:
            return
        names = list(self._buffers)
        values = torch.stack([self._buffers[n][: len(rows)] for n in names])
        bad = ~torch.isfinite(values)
        found = bool(bad.any())
        if trainer.world_size > 1:  # every rank stops together, or the others would hang
            found = trainer.strategy.reduce_boolean_decision(found, all=False)
        if not found:
            return
        if not bad.any():
            raise NonFiniteError(f"Another rank's training loss became non-finite by "
                                 f"step {rows[-1][0]}; training stopped. {ADVICE}")
        first = int(bad.any(0).nonzero()[0])
        step, epoch, batch = rows[first]
        which = [i for i in range(len(names)) if bad[i, first]]
        raise NonFiniteError(
            f"Non-finite {', '.join(names[i] for i in which)} at step {step} (epoch "
            f"{epoch}, batch {batch}): "
            f"{', '.join(str(float(values[i, first])) for i in which)}; training stopped and "
            f"no checkpoint was written from this state. {ADVICE}")

    def _check_all(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.every_n_steps > 0:
            self._check_losses(trainer)
            check_weights(pl_module, logging_step(trainer))

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Runs before the checkpoint callbacks (Lightning puts them last).
        if trainer.sanity_checking or self.every_n_steps <= 0:
            return
        self._check_losses(trainer)  # the earliest cause first
        metrics = {k: v for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        if metrics:
            values = torch.stack([v.detach().float().reshape(()).cpu() for v in metrics.values()])
            bad = [f"{k} = {float(v)}" for k, v in zip(metrics, values, strict=True)
                   if not torch.isfinite(v)]
            if bad:
                raise NonFiniteError(
                    f"Non-finite validation metric {', '.join(bad)} at step "
                    f"{logging_step(trainer)} (epoch {trainer.current_epoch}); training stopped "
                    f"before a checkpoint could be chosen by it. {ADVICE}")
        check_weights(pl_module, logging_step(trainer))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._check_all(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._check_all(trainer, pl_module)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        # any save (a checkpoint callback, SLURM preemption) happens before the file is written
        self._check_all(trainer, pl_module)


def check_weights(module: torch.nn.Module, step: int) -> None:
    """Raise NonFiniteError naming the first parameter holding NaN/inf."""
    flags = torch.stack([torch.isfinite(p).all() for p in module.parameters()]).cpu()
    if not flags.all():
        name = [n for n, _ in module.named_parameters()][int((~flags).nonzero()[0])]
        raise NonFiniteError(
            f"Parameter `{name}` holds NaN/inf at step {step}; training stopped "
            "before a checkpoint of these weights could be written.")
