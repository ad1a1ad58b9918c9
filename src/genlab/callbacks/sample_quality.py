"""The sample-quality metric suite as a callback: every N epochs at the end of validation,
and at the end of testing, draw `n_samples` images from `pl_module.sample` and log FID,
KID, IS, precision/recall (and class accuracy for conditional models) against the cached
features of the reference split (genlab/metrics/sample_quality.py, reference_cache.py).

Samples come in chunks of `batch_size` with a fixed seed per chunk, dealt round-robin to
the DDP ranks, so 1 or N processes evaluate the same images and every evaluation of a run
uses the same noise. Models without `sample`, non-image data and `fast_dev_run` are skipped.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from genlab.callbacks.image_logging import fixed_rng

# data-config keys that change how data is loaded, not which images it holds
LOADER_KEYS = ("batch_size", "eval_batch_size", "num_workers", "pin_memory", "download",
               "data_dir", "verify_md5")


def data_key(data: dict) -> dict:
    """The dataset's identity for cache keys: its config without loader settings."""
    return {k: v for k, v in sorted(data.items()) if k not in LOADER_KEYS}


def reference_images(datamodule: Any, split: str, n: int) -> torch.Tensor:
    """The first n images (in split order) of `split`: (n, C, H, W) in [0, 1]."""
    datamodule.setup("test")
    dataset = datamodule.splits[split]
    return torch.stack([dataset[i][0] for i in range(min(n, len(dataset)))])


@torch.no_grad()
def extract(extractor: torch.nn.Module, images: torch.Tensor, batch_size: int,
            device: torch.device) -> np.ndarray:
    """images (N, C, H, W) in [0, 1] → features (N, D) float32, in batches."""
    extractor.to(device)
    chunks = [extractor(batch.to(device))[0].float().cpu() for batch in images.split(batch_size)]
    return torch.cat(chunks).numpy()


class SampleQuality(Callback):
    def __init__(self, features: Any, data: Any, cache_dir: str, every_n_epochs: int = 5,
                 n_samples: int = 10_000, reference_split: str = "test",
                 n_reference: int = 10_000, batch_size: int = 500, seed: int = 0,
                 kid_subsets: int = 100, kid_subset_size: int = 1000, is_splits: int = 10,
                 prc_neighborhood: int = 3) -> None:
        from omegaconf import OmegaConf

        plain = (lambda c: OmegaConf.to_container(c, resolve=True)  # noqa: E731
                 if OmegaConf.is_config(c) else dict(c))
        self.features_cfg, self.data = plain(features), plain(data)
        self.cache_dir, self.every_n_epochs = cache_dir, every_n_epochs
        self.n_samples, self.n_reference = n_samples, n_reference
        self.reference_split = reference_split
        self.batch_size, self.seed = batch_size, seed
        self.options = {"kid_subsets": kid_subsets, "kid_subset_size": kid_subset_size,
                        "is_splits": is_splits, "prc_neighborhood": prc_neighborhood}
        self.metrics = None

    # --- building the suite ----------------------------------------------------------------
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.metrics is not None or not self._applies(trainer, pl_module):
            return
        self.metrics = self.build(trainer.datamodule, pl_module, trainer.global_rank,
                                  trainer.world_size)

    @staticmethod
    def _applies(trainer: L.Trainer, pl_module: L.LightningModule) -> bool:
        return (not trainer.fast_dev_run and hasattr(pl_module, "sample")
                and len(getattr(pl_module, "data_shape", ())) == 3
                and trainer.datamodule is not None)

    def build(self, datamodule: Any, pl_module: L.LightningModule, rank: int = 0,
              world_size: int = 1):
        from genlab.metrics.reference_cache import cached_features
        from genlab.metrics.sample_quality import SampleQualityMetrics
        from genlab.train import instantiate

        dkey = data_key(self.data)
        extractor = instantiate(self.features_cfg, datamodule=datamodule, data_key=dkey,
                                _recursive_=False, _convert_="all")
        key = {"dataset_name": dkey.get("name", "data"), "dataset": dkey,
               "split": self.reference_split, "n": self.n_reference,
               "extractor_name": extractor.name, "extractor": extractor.identity}
        device = pl_module.device
        reference = cached_features(self.cache_dir, key, lambda: extract(
            extractor, reference_images(datamodule, self.reference_split, self.n_reference),
            self.batch_size, device))
        conditional = getattr(pl_module, "conditional", False)
        return SampleQualityMetrics(
            extractor, torch.from_numpy(reference), self.n_samples,
            num_classes=pl_module.num_classes if conditional else 0, rank=rank,
            world_size=world_size, **self.options)

    # --- evaluating ------------------------------------------------------------------------
    def _due(self, trainer: L.Trainer) -> bool:
        if trainer.sanity_checking or self.every_n_epochs <= 0:
            return False
        last = trainer.current_epoch + 1 >= (trainer.max_epochs or 0)
        return (trainer.current_epoch + 1) % self.every_n_epochs == 0 or last

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.metrics is not None and self._due(trainer):
            pl_module.log_dict(self.evaluate(pl_module, trainer.global_rank, trainer.world_size,
                                             "val"), sync_dist=True)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.metrics is not None:
            pl_module.log_dict(self.evaluate(pl_module, trainer.global_rank, trainer.world_size,
                                             "test"), sync_dist=True)

    @torch.no_grad()
    def evaluate(self, pl_module: L.LightningModule, rank: int = 0, world_size: int = 1,
                 stage: str = "val") -> dict[str, float]:
        """Draw this rank's chunks of samples, update, compute (synced), reset."""
        self.metrics.to(pl_module.device)
        conditional = getattr(pl_module, "conditional", False)
        for chunk in range(rank, math.ceil(self.n_samples / self.batch_size), world_size):
            start = chunk * self.batch_size
            size = min(self.batch_size, self.n_samples - start)
            labels = None
            if conditional:
                labels = torch.arange(start, start + size, device=pl_module.device)
                labels = labels % pl_module.num_classes
            with fixed_rng(self.seed * 1_000_003 + chunk, pl_module.device):
                images = (pl_module.sample(size, labels) if conditional
                          else pl_module.sample(size))
            self.metrics.update(images, labels)
        # KID's subsets and IS's splits draw from the global RNG: a fixed seed keeps the
        # values reproducible and the training RNG stream untouched by the evaluation
        with warnings.catch_warnings(), fixed_rng(self.seed, pl_module.device):
            warnings.simplefilter("ignore", UserWarning)
            values = self.metrics.compute()
        self.metrics.reset()
        return {f"{stage}/{k}": v for k, v in values.items()}
