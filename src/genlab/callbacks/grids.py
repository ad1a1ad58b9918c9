"""The image-grid callbacks: samples, reconstructions and latent interpolations (saved and
logged through image_logging.py)."""

from __future__ import annotations

import math
from typing import Annotated

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from genlab.callbacks.image_logging import class_names, describe, fixed_rng, save_grid
from genlab.callbacks.schedule import picture_due
from genlab.config.keys import Key
from genlab.models.generative import is_image_model


class SampleGrid(Callback):
    """Every N epochs, a grid of `n` samples from `pl_module.sample(n)` with the same noise
    each time (`seed`) — for a conditional model one row per class, n // K each —
    saved as images/samples_epochNNN.png and logged as `samples`."""

    def __init__(self,
                 every_n_epochs: Annotated[int, Key(
                     "draw it every this many epochs and after the last (0: the last only)",
                     min=0)] = 5,
                 n: Annotated[int, Key("samples in the grid", min=1)] = 64,
                 seed: Annotated[int, Key("seed of its fixed noise / images", min=0,
                                          max=2**32 - 1)] = 0) -> None:
        self.every_n_epochs, self.n, self.seed = every_n_epochs, n, seed

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not (picture_due(trainer, self.every_n_epochs) and is_image_model(pl_module)):
            return
        what = describe(trainer, pl_module)
        if pl_module.conditional:  # one row per class, named
            k = pl_module.num_classes
            per = max(1, self.n // k)
            labels = torch.arange(k, device=pl_module.device).repeat_interleave(per)
            with fixed_rng(self.seed, pl_module.device):
                images = pl_module.sample(len(labels), labels)
            save_grid(trainer, "samples", images, nrow=per, row_labels=class_names(k),
                      title=f"Samples, {what}: one row per class, the same noise every epoch")
            return
        with fixed_rng(self.seed, pl_module.device):
            images = pl_module.sample(self.n)
        save_grid(trainer, "samples", images, nrow=int(math.sqrt(self.n)),
                  title=f"{self.n} samples from the prior, {what} (the same noise every epoch)")


class ReconstructionGrid(Callback):
    """Every N epochs, the first `n` validation images (rows labelled "original") above
    their reconstructions (rows labelled "reconstruction"); logged as `reconstructions`."""

    def __init__(self,
                 every_n_epochs: Annotated[int, Key(
                     "draw it every this many epochs and after the last (0: the last only)",
                     min=0)] = 5,
                 n: Annotated[int, Key("validation images (each beside its reconstruction)",
                                       min=1)] = 32,
                 seed: Annotated[int, Key("seed of its fixed noise / images", min=0,
                                          max=2**32 - 1)] = 0) -> None:
        self.every_n_epochs, self.n, self.seed = every_n_epochs, n, seed
        self._batch: torch.Tensor | None = None

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx,
                                dataloader_idx: int = 0) -> None:
        if batch_idx == 0:
            self._batch = batch[0][: self.n]

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if (self._batch is None or not picture_due(trainer, self.every_n_epochs)
                or not (is_image_model(pl_module) and hasattr(pl_module, "reconstruct"))):
            return
        x = self._batch
        with fixed_rng(self.seed, pl_module.device):
            recon = pl_module.reconstruct(x)
        nrow = min(8, len(x))
        rows = []
        for start in range(0, len(x), nrow):
            rows += [x[start : start + nrow], recon[start : start + nrow]]
        labels = ["original", "reconstruction"] * (len(rows) // 2)
        save_grid(trainer, "reconstructions", torch.cat(rows), nrow=nrow, row_labels=labels,
                  title=f"Validation images and their reconstructions (posterior mean "
                        f"decoded), {describe(trainer, pl_module)}")


class InterpolationGrid(Callback):
    """After testing: for `pairs` pairs of test images, decode `steps` points on the line
    between their posterior means; one row per pair, logged as `interpolation`."""

    def __init__(self,
                 pairs: Annotated[int, Key("pairs of test images, one row each", min=1)] = 8,
                 steps: Annotated[int, Key("images per row, both ends included",
                                           min=2)] = 10) -> None:
        self.pairs, self.steps = pairs, steps
        self._images: list[torch.Tensor] = []

    def on_test_epoch_start(self, trainer, pl_module) -> None:
        self._images = []

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx,
                          dataloader_idx: int = 0) -> None:
        # the first 2·pairs test images, from as many batches as that takes (a test batch
        # of one image is allowed: data.eval_batch_size=1)
        missing = 2 * self.pairs - sum(len(x) for x in self._images)
        if missing > 0:
            self._images.append(batch[0][:missing])

    @torch.no_grad()
    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        images = torch.cat(self._images) if self._images else None
        if (images is None or len(images) < 2 or not trainer.is_global_zero
                or not is_image_model(pl_module)
                or not (hasattr(pl_module, "encode") and hasattr(pl_module, "decode"))):
            return  # nothing to interpolate between (a test split of one image)
        pairs = len(images) // 2
        mu = pl_module.encode(images[: 2 * pairs])[0]
        start, end = mu[:pairs], mu[pairs : 2 * pairs]
        t = torch.linspace(0, 1, self.steps, device=mu.device).view(1, -1, 1)
        z = start.unsqueeze(1) * (1 - t) + end.unsqueeze(1) * t  # (pairs, steps, D)
        images = pl_module.decode(z.flatten(0, 1))
        save_grid(trainer, "interpolation", images, nrow=self.steps, tag="test",
                  row_labels=[f"pair {i + 1}" for i in range(pairs)],
                  title=f"Linear interpolation between two test images' posterior means "
                        f"(left: first image, right: second), {describe(trainer, pl_module)}")
