"""What the DDP model tests record inside a run: a callback that a `genlab-train` command
takes on the command line (`+callbacks.probe._target_=ddp_probe.StepProbe`, with tests/ on
PYTHONPATH), and the same callback in the one-process reference fit.

Per rank it writes <path>/rank<R>.pt with the state before training, and for each of the
first training batches: the RNG state when the batch starts, the batch, the parameters and
gradients when it ends, and how many gradient elements were all-reduced during it (by the
DDP reducer, through a counting comm hook, or by `torch.distributed.all_reduce`); and the
validation batches with the RNG state when validation starts; the buffers (BatchNorm
running statistics) each rank evaluates with, at the first validation and test batch; and
at the end of fit a checkpoint of the trained model, `<path>/final.ckpt` (rank 0's, as
Lightning writes it).
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def _clone(tensors) -> list[torch.Tensor]:
    return [t.detach().clone() for t in tensors]


class StepProbe(L.Callback):
    def __init__(self, path: str, steps: int = 3) -> None:
        self.path, self.steps = Path(path), steps
        self.record: dict = {"rng": [], "batches": [], "params": [], "grads": [],
                             "allreduced": [], "val_rng": [], "val_batches": []}
        self._reduced = 0
        self._all_reduce = None

    # --- counting what is all-reduced ------------------------------------------------------
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.record["initial"] = {k: v.clone() for k, v in pl_module.state_dict().items()}
        self.record["names"] = [n for n, _ in pl_module.named_parameters()]
        self.record["trainable"] = [n for n, p in pl_module.named_parameters() if p.requires_grad]
        if not dist.is_initialized():
            return
        all_reduce = self._all_reduce = dist.all_reduce

        def counting_all_reduce(tensor, *args, **kwargs):
            self._reduced += tensor.numel()
            return all_reduce(tensor, *args, **kwargs)

        def counting_hook(state, bucket):  # DDP's default hook, counted once
            self._reduced += bucket.buffer().numel()
            work = all_reduce(bucket.buffer().div_(dist.get_world_size()), async_op=True)
            return work.get_future().then(lambda fut: fut.value()[0])

        dist.all_reduce = counting_all_reduce
        model = trainer.strategy.model
        if isinstance(model, DistributedDataParallel):
            model.register_comm_hook(None, counting_hook)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._all_reduce is not None:
            dist.all_reduce = self._all_reduce
        self._save(trainer)
        trainer.save_checkpoint(self.path / "final.ckpt")  # every rank takes part

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save(trainer)

    def _save(self, trainer: L.Trainer) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        torch.save(self.record, self.path / f"rank{trainer.global_rank}.pt")

    # --- training batches ------------------------------------------------------------------
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if batch_idx < self.steps:
            self.record["rng"].append(torch.get_rng_state())
            self.record["batches"].append(_clone(batch))
            self._reduced = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if batch_idx < self.steps:
            params = list(pl_module.parameters())
            self.record["params"].append(_clone(params))
            self.record["grads"].append([None if p.grad is None else p.grad.clone()
                                         for p in params])
            self.record["allreduced"].append(self._reduced)

    # --- validation ------------------------------------------------------------------------
    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self.record["val_rng"].append(torch.get_rng_state())

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx: int,
                                  dataloader_idx: int = 0) -> None:
        if not trainer.sanity_checking:
            self.record["val_batches"].append(_clone(batch))
            self.record.setdefault("val_buffers", _buffers(pl_module))

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx: int,
                            dataloader_idx: int = 0) -> None:
        self.record.setdefault("test_buffers", _buffers(pl_module))


def _buffers(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: b.detach().clone() for name, b in module.named_buffers()}
