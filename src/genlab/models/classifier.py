"""A supervised image classifier, trained by cross-entropy: the feature extractor of the
`classifier` sample-quality metrics (genlab/metrics/judge.py trains one on first use;
`genlab-train experiment=classifier_digits` trains and reports one on its own).

Logs `train/loss`, `{val,test}/loss` and `{val,test}/acc` (share of correct labels).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import lightning as L
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from genlab.config.keys import Key
from genlab.errors import ConfigError
from genlab.models.optim import build_optimizer, build_scheduler


class Classifier(L.LightningModule):
    def __init__(
        self,
        data_shape: Sequence[int],
        num_classes: int,
        net: Annotated[dict, Key("the classifier net's node (nets/classifier.py)")],
        optimizer: Annotated[dict, Key("a _partial_ torch optimizer: model/optimizer=...")],
        scheduler: Annotated[dict | None, Key("a _partial_ lr scheduler (null: none)")
                             ] = None,
        name: Annotated[str, Key("the model's name in run names")] = "classifier",
    ) -> None:
        super().__init__()
        if num_classes <= 0:
            raise ConfigError("data", "a dataset without labels", "labelled data (num_classes > 0)",
                              "A classifier needs class labels.")
        self.save_hyperparameters(logger=False)  # the flat run config is logged instead
        self.data_shape = tuple(data_shape)
        self.net = instantiate(net, in_shape=self.data_shape, num_classes=num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) in [0, 1] → (B, feature_dim)."""
        return self.net.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) in [0, 1] → logits (B, num_classes)."""
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        loss = F.cross_entropy(self(batch[0]), batch[1])
        self.log("train/loss", loss, on_step=True, on_epoch=False, batch_size=len(batch[0]))
        return loss

    def _eval_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> None:
        x, y = batch
        logits = self(x)
        self.log_dict({f"{stage}/loss": F.cross_entropy(logits, y),
                       f"{stage}/acc": (logits.argmax(1) == y).float().mean()},
                      on_epoch=True, sync_dist=True, batch_size=len(x))

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def configure_optimizers(self):
        opt = build_optimizer(self.parameters(), self.hparams.optimizer)
        sched = build_scheduler(opt, self.hparams.scheduler)
        return opt if sched is None else {"optimizer": opt, "lr_scheduler": sched}
