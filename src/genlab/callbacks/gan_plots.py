"""GAN pictures: D(x) and D(G(z)) over training, the JSD lower bound against the true JSD,
generated vs real 2-D points over the discriminator's output, and a class-conditional grid
(one row per class). Each callback skips models without the methods it needs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from genlab.callbacks.history import logged_series
from genlab.callbacks.image_logging import (
    class_names,
    describe,
    fixed_rng,
    log_class_table,
    save_figure,
    save_grid,
)
from genlab.callbacks.schedule import epoch_due, picture_due
from genlab.config.keys import Key


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


class DiscriminatorTrace(Callback):
    """Plots the logged `train/d_real` = mean D(x) and `train/d_fake` = mean D(G(z)) against
    the step (callbacks/history.py), with the equilibrium value 1/2, every N epochs and at
    the end of fit; read from the run's history, so a resumed run's figure covers the whole
    run. Saved as images/d_trace_*.png and logged as `d_trace`."""

    KEYS = ("train/d_real", "train/d_fake")

    def __init__(self, every_n_epochs: Annotated[int, Key(
            "plot it every this many epochs and after the last (0: the last only)",
            min=0)] = 5) -> None:
        self.every_n_epochs = every_n_epochs

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero and picture_due(trainer, self.every_n_epochs):
            self.plot(trainer, f"epoch{trainer.current_epoch:03d}")

    def plot(self, trainer: L.Trainer, tag: str) -> Path | None:
        trace = logged_series(trainer, self.KEYS)
        if not trace["step"]:
            return None
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
        ax.plot(trace["step"], trace["train/d_real"], label="D(x), real", lw=0.8)
        ax.plot(trace["step"], trace["train/d_fake"], label="D(G(z)), generated", lw=0.8)
        ax.axhline(0.5, color="k", ls="--", lw=0.8, label="equilibrium 1/2")
        ax.set(xlabel="step (training batches)", ylabel="mean discriminator output",
               ylim=(0, 1), title="Discriminator on real and generated training batches\n"
               f"{describe(trainer, trainer.lightning_module)}")
        ax.legend(loc="best", fontsize=8)
        return save_figure(trainer, fig, "d_trace", tag)


class ToyScatter(Callback):
    """For 2-D data: every N epochs, `n` generated points (fixed noise seed) and the real
    validation points (under DDP gathered from all ranks) over the contour of D(x), with
    the mode centres when the data module has `mode_centers`; saved as
    images/toy_scatter_*.png, logged as `toy_scatter`."""

    def __init__(self, every_n_epochs: Annotated[int, Key(
            "plot it every this many epochs and after the last (0: the last only)",
            min=0)] = 10,
                 n: Annotated[int, Key("generated and real points drawn", min=1)] = 2500,
                 seed: Annotated[int, Key("seed of its fixed noise / images", min=0,
                                          max=2**32 - 1)] = 0,
                 grid: Annotated[int, Key("cells per side of D's output map", min=2)] = 100
                 ) -> None:
        self.every_n_epochs, self.n, self.seed, self.grid = every_n_epochs, n, seed, grid
        self._real: list[torch.Tensor] = []

    @staticmethod
    def _applies(pl_module: L.LightningModule) -> bool:
        return tuple(getattr(pl_module, "data_shape", ())) == (2,) and hasattr(pl_module, "sample")

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx,
                                dataloader_idx: int = 0) -> None:
        if batch_idx == 0:
            self._real = []
        if self._applies(pl_module) and sum(map(len, self._real)) < self.n:
            self._real.append(batch[0].detach().cpu())

    @torch.no_grad()
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not (self._real and self._applies(pl_module)
                and epoch_due(trainer, self.every_n_epochs)):
            return
        real = torch.cat(self._real)[: self.n]
        if trainer.world_size > 1:  # each rank holds its share of the points (equal shares)
            real = pl_module.all_gather(real.to(pl_module.device)).flatten(0, 1)[: self.n].cpu()
        if not trainer.is_global_zero:
            return
        with fixed_rng(self.seed, pl_module.device):
            fake = pl_module.sample(self.n).float().cpu()
        centers = getattr(trainer.datamodule, "mode_centers", None)
        self.plot(trainer, pl_module, real, fake, centers, f"epoch{trainer.current_epoch:03d}")

    def plot(self, trainer, pl_module, real: torch.Tensor, fake: torch.Tensor,
             centers: torch.Tensor | None, tag: str) -> Path:
        plt = _pyplot()
        both = torch.cat([real, fake])
        lo, hi = both.quantile(0.005, dim=0), both.quantile(0.995, dim=0)
        pad = 0.15 * (hi - lo).max() + 0.1
        xs = torch.linspace(float(lo[0] - pad), float(hi[0] + pad), self.grid)
        ys = torch.linspace(float(lo[1] - pad), float(hi[1] + pad), self.grid)
        gx, gy = torch.meshgrid(xs, ys, indexing="xy")
        fig, ax = plt.subplots(figsize=(5.5, 5), dpi=100)
        if not getattr(pl_module, "conditional", False):  # D(x, y) has no single contour
            prob = pl_module.discriminator_prob(torch.stack([gx, gy], -1).view(-1, 2))
            cs = ax.contourf(gx, gy, prob.view(self.grid, self.grid).cpu(), levels=20,
                             cmap="RdBu_r", alpha=0.6, vmin=0, vmax=1)
            fig.colorbar(cs, ax=ax, label="D(x)")
        # generated first, the real points on top as hollow rings: both stay visible where
        # the generator covers the data (filled real dots vanished under the generated)
        ax.scatter(fake[:, 0], fake[:, 1], s=4, c="tab:orange", alpha=0.5, label="generated",
                   zorder=2)
        ax.scatter(real[:, 0], real[:, 1], s=10, facecolors="none", edgecolors="k",
                   linewidths=0.4, alpha=0.5, label="real (validation)", zorder=3)
        if centers is not None:
            ax.scatter(centers[:, 0], centers[:, 1], marker="x", c="tab:green", s=40,
                       label="mode centres")
        # the frame is the contour's grid (0.5–99.5 % of the points): a few far outliers
        # must not leave a blank band beside D's contour
        ax.set(aspect="equal", title=f"Real vs generated\n{describe(trainer, pl_module)}",
               xlim=(float(xs[0]), float(xs[-1])), ylim=(float(ys[0]), float(ys[-1])))
        ax.legend(loc="upper right", fontsize=7)
        return save_figure(trainer, fig, "toy_scatter", tag)


class JSDTrace(Callback):
    """After each validation (not the sanity check): the lower bound
    `val/jsd_lower_bound` = (V(D, G) + log 4) / 2 and, on 2-D mixtures, the binned true JSD
    `val/jsd` (genlab/metrics/jsd.py), over epochs with log 2 (disjoint supports), and
    below them `val/d_real` = D(x), `val/d_fake` = D(G(z)) with 1/2 (the optimum); every
    N epochs and at the end of fit, read from the run's history (whole across resumes);
    saved as images/jsd_*.png and logged as `jsd`."""

    KEYS = ("val/jsd_lower_bound", "val/jsd", "val/d_real", "val/d_fake")

    def __init__(self, every_n_epochs: Annotated[int, Key(
            "plot it every this many epochs and after the last (0: the last only)",
            min=0)] = 10) -> None:
        self.every_n_epochs = every_n_epochs

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if (trainer.sanity_checking or not trainer.is_global_zero
                or "val/jsd_lower_bound" not in trainer.callback_metrics):
            return
        if epoch_due(trainer, self.every_n_epochs):
            self.plot(trainer, f"epoch{trainer.current_epoch:03d}")

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self.plot(trainer, "final")

    def plot(self, trainer: L.Trainer, tag: str) -> Path | None:
        import math

        from matplotlib.ticker import MaxNLocator

        v = logged_series(trainer, self.KEYS)
        if not v["epoch"]:
            return None
        plt = _pyplot()
        epochs = v["epoch"]
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 5.5), dpi=100, sharex=True)
        top.plot(epochs, v["val/jsd_lower_bound"], "o-", ms=3,
                 label="lower bound (V(D, G) + log 4) / 2")
        if any(x == x for x in v["val/jsd"]):  # not all NaN: data with a known density
            top.plot(epochs, v["val/jsd"], "s-", ms=3,
                     label="JSD(data ‖ G), binned at σ (true density)")
        top.axhline(math.log(2), color="k", ls=":", lw=0.8, label="log 2 (disjoint)")
        top.set(ylabel="nats", title="Jensen–Shannon divergence on the validation split\n"
                f"{describe(trainer, trainer.lightning_module, final=tag == 'final')}")
        top.legend(loc="best", fontsize=7)
        bottom.plot(epochs, v["val/d_real"], "o-", ms=3, label="D(x), real")
        bottom.plot(epochs, v["val/d_fake"], "o-", ms=3, label="D(G(z)), generated")
        bottom.axhline(0.5, color="k", ls="--", lw=0.8, label="optimum 1/2")
        bottom.set(xlabel="epoch", ylabel="mean D", ylim=(0, 1))
        bottom.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        bottom.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)  # one epoch: still a range
        bottom.legend(loc="best", fontsize=7)
        return save_figure(trainer, fig, "jsd", tag)


def class_grid_inputs(pl_module: L.LightningModule, per_class: int
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise and labels for a grid with one row per class and the same noise in each
    column: z (K·per_class, latent_dim), labels (K·per_class,)."""
    k = pl_module.num_classes
    z = pl_module.fixed_noise[:per_class].repeat(k, 1)
    labels = torch.arange(k, device=z.device).repeat_interleave(per_class)
    return z, labels


class ClassGrid(Callback):
    """For conditional image models: every N epochs, one row per class, each column one
    fixed noise vector; saved as images/class_grid_*.png and logged as `class_grid`."""

    def __init__(self, every_n_epochs: Annotated[int, Key(
                     "draw it every this many epochs and after the last (0: the last only)",
                     min=0)] = 5,
                 per_class: Annotated[int, Key("columns: fixed noise vectors per class row "
                                               "(at most model.fixed_noise_size)",
                                               min=1)] = 8) -> None:
        self.every_n_epochs, self.per_class = every_n_epochs, per_class

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not (getattr(pl_module, "conditional", False)
                and len(getattr(pl_module, "data_shape", ())) == 3
                and picture_due(trainer, self.every_n_epochs)):
            return
        z, labels = class_grid_inputs(pl_module, self.per_class)
        images = pl_module.generate(z, labels)
        log_class_table(trainer, "class_samples", images, self.per_class,
                        class_names(pl_module.num_classes))
        save_grid(trainer, "class_grid", images, nrow=self.per_class,
                  row_labels=class_names(pl_module.num_classes),
                  title=f"Class-conditional samples, {describe(trainer, pl_module)}: one row "
                        "per class, each column one fixed noise vector")
