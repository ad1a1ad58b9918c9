"""The test set's latent space as a 2-D scatter coloured by class: μ itself when
latent_dim = 2, otherwise its projection on the first two principal components."""

from __future__ import annotations

from typing import Annotated

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from genlab.callbacks.image_logging import describe, save_figure
from genlab.config.keys import Key


class LatentSpacePlot(Callback):
    def __init__(self, max_points: Annotated[int, Key("test points drawn at most",
                                                      min=1)] = 5000) -> None:
        self.max_points = max_points
        self._mu: list[torch.Tensor] = []
        self._y: list[torch.Tensor] = []

    def on_test_epoch_start(self, trainer, pl_module) -> None:
        self._mu, self._y = [], []

    @torch.no_grad()
    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx,
                          dataloader_idx: int = 0) -> None:
        seen = sum(len(m) for m in self._mu)
        if (not trainer.is_global_zero or not hasattr(pl_module, "encode")
                or seen >= self.max_points):
            return
        x, y = batch
        self._mu.append(pl_module.encode(x)[0].float().cpu())
        self._y.append(y.cpu())

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._mu or not trainer.is_global_zero:
            return
        import matplotlib
        import numpy as np

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        mu = torch.cat(self._mu)[: self.max_points].numpy()
        y = torch.cat(self._y)[: self.max_points].numpy()
        if mu.shape[1] == 1:  # a 1-d latent: μ against the class (or 0 without labels)
            points, axes = np.stack([mu[:, 0], np.maximum(y, 0)], axis=1), ("z₁", "class")
        elif mu.shape[1] == 2 or len(mu) < 2:  # (PCA needs two points)
            points, axes = mu[:, :2], ("z₁", "z₂")
        else:
            from sklearn.decomposition import PCA

            pca = PCA(n_components=2).fit(mu)
            points = pca.transform(mu)
            ev = pca.explained_variance_ratio_
            axes = (f"PC1 of μ ({ev[0]:.0%} var.)", f"PC2 of μ ({ev[1]:.0%} var.)")
        fig, ax = plt.subplots(figsize=(6, 5), dpi=100)
        labelled = (y >= 0).any()
        sc = ax.scatter(points[:, 0], points[:, 1], c=y if labelled else None, cmap="tab10",
                        s=6, alpha=0.8)
        if labelled:
            fig.colorbar(sc, ax=ax, label="class")
        ax.set(xlabel=axes[0], ylabel=axes[1],
               title=f"Test-set posterior means ({mu.shape[1]}-d latent), coloured by class\n"
                     f"{describe(trainer, pl_module)}")
        save_figure(trainer, fig, "latent_space", "test")
