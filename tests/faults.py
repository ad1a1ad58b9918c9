"""Callbacks that inject faults into a real run (importable as `faults.*` in configs)."""

from __future__ import annotations

import torch
from lightning.pytorch.callbacks import Callback


class PoisonWeights(Callback):
    """Set the first trainable parameter to NaN before training step `at_step`."""

    def __init__(self, at_step: int) -> None:
        self.at_step = at_step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if trainer.global_step == self.at_step:
            with torch.no_grad():
                next(p for p in pl_module.parameters() if p.requires_grad).fill_(float("nan"))


class Pace(Callback):
    """Sleep `seconds` after each training batch: widens the window in which a test's signal
    lands mid-fit (a tiny fit takes ~1 s, and a loaded machine delays `scancel`); the
    numbers are unchanged."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        import time

        time.sleep(self.seconds)


class Evil:
    """A pickled payload: unpickling it creates `path` (weights_only must refuse it)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


class FailingLogger:
    """A tracker that breaks at its `at_call`-th metrics call (a dying server, a full disk)."""

    def __new__(cls, at_call: int = 3):
        from lightning.pytorch.loggers import Logger

        class _Failing(Logger):
            calls = 0

            @property
            def name(self) -> str:
                return "failing"

            @property
            def version(self) -> str:
                return "0"

            def log_hyperparams(self, params, *args, **kwargs) -> None:
                pass

            def log_metrics(self, metrics, step=None) -> None:
                type(self).calls += 1
                if type(self).calls >= at_call:
                    raise ConnectionError("tracker server went away")

        return _Failing()
