"""The sample-quality metric suite as a callback: every N epochs (and the last, as
callbacks/schedule.py decides) at the end of validation, and once at the end of testing,
draw `n_samples` images (null: as many as the stage's reference split holds, at least
`min_samples`) from `pl_module.sample` and log FID, KID, IS, precision/recall (and class
accuracy for conditional models) against the cached features of a reference split
(genlab/metrics/suite.py, reference_cache.py).

Splits have one job each: during training the suite compares samples with the
**validation** split (what checkpoints, sweeps and early stopping see), and `trainer.test`
compares them with the **test** split, whose features are not even read before the test
starts. The two stages draw different noise (a per-stage seed stream), so a test value is
never the validation value of the same samples.

Samples come in chunks of `batch_size` with a fixed seed per (stage, chunk), dealt
round-robin to the DDP ranks, so 1 or N processes evaluate the same images and every
validation of a run uses the same noise (with fewer than `batch_size` × ranks samples the
chunks shrink so that every rank holds one). A conditional model is asked for labels in
the reference split's class proportions (within one image per class, in a fixed order),
so an unbalanced data set is not judged against a uniform class mix. Models without
`sample`, non-image data and `fast_dev_run` are skipped.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator
from typing import Annotated, Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import TensorDataset

from genlab.callbacks.image_logging import fixed_rng
from genlab.callbacks.schedule import epoch_due
from genlab.config.keys import Key
from genlab.metrics.features import Judge
from genlab.models.generative import is_image_model

# data-config keys that change how data is loaded, not which images it holds
LOADER_KEYS = ("batch_size", "eval_batch_size", "num_workers", "pin_memory", "download",
               "data_dir", "verify_md5")


def data_key(data: dict) -> dict:
    """The dataset's identity for cache keys: its config without loader settings."""
    return {k: v for k, v in sorted(data.items()) if k not in LOADER_KEYS}


# the seed stream of each stage's samples: validation and test never share noise
STAGE_SEED_OFFSET = {"val": 0, "test": 500_009}
STAGE_SPLIT = {"val": "val", "test": "test"}  # the reference split each stage compares with


def reference_images(datamodule: Any, split: str, n: int | None,
                     batch_size: int = 500) -> Iterator[torch.Tensor]:
    """The first n images (all when n is None, in split order) of `split`, as batches of
    at most `batch_size` (B, C, H, W): only one batch of images is in memory at a time, so
    a large split (CelebA's test folder) costs its features, not its pixels."""
    datamodule.setup("test" if split == "test" else "fit")
    dataset = datamodule.splits[split]
    count = len(dataset) if n is None else n
    for start in range(0, count, batch_size):
        stop = min(start + batch_size, count)
        yield torch.stack([dataset[i][0] for i in range(start, stop)])


def reference_labels(datamodule: Any, split: str, n: int | None) -> torch.Tensor:
    """The class labels (n,) long of the first n images (all when n is None) of `split`:
    the images `reference_images` gives, read without decoding them where the dataset
    holds its labels (a TensorDataset, an image folder's file list)."""
    datamodule.setup("test" if split == "test" else "fit")
    dataset = datamodule.splits[split]
    count = len(dataset) if n is None else n
    if isinstance(dataset, TensorDataset):
        return dataset.tensors[1][:count].long()
    if hasattr(dataset, "labels"):
        return torch.as_tensor(list(dataset.labels[:count]), dtype=torch.long)
    return torch.tensor([int(dataset[i][1]) for i in range(count)], dtype=torch.long)


def check_reference_size(datamodule: Any, n_reference: int | None) -> None:
    """Every reference split holds ≥ 2 images (FID's covariance, KID's subsets) and
    metrics.n_reference must fit in each: a ConfigError naming the key before training.
    (An image folder's or MNIST's split sizes are known once the data is loaded, so this
    is checked at setup; genlab/config/schema.py refuses what the config alone decides.)"""
    datamodule.setup("fit")
    if hasattr(datamodule, "require_split_size"):
        for split in STAGE_SPLIT.values():
            datamodule.require_split_size(split, 2, "FID and KID need at least 2 real images.")
    if n_reference is None:
        return
    sizes = {split: len(datamodule.splits[split]) for split in STAGE_SPLIT.values()}
    small = min(sizes.values())
    if n_reference > small:
        from genlab.errors import ConfigError

        raise ConfigError(
            "metrics.n_reference", n_reference,
            f"an integer in [2, {small}] or null (all images of the split)",
            f"The suite compares with the val split ({sizes['val']} images) during training "
            f"and the test split ({sizes['test']}) at test; both must hold n_reference images.")


@torch.no_grad()
def extract(extractor: torch.nn.Module, images: torch.Tensor | Iterable[torch.Tensor],
            batch_size: int, device: torch.device) -> np.ndarray:
    """images (N, C, H, W) in [0, 1], or an iterable of such batches → features (N, D)
    float32, `batch_size` images per forward."""
    extractor.to(device)
    batches = [images] if isinstance(images, torch.Tensor) else images
    chunks = [extractor(part.to(device))[0].float().cpu()
              for batch in batches for part in batch.split(batch_size)]
    return torch.cat(chunks).numpy()


class SampleQuality(Callback):
    def __init__(
        self,
        features: Annotated[Any, Key("the judge's node: metrics/features=classifier | "
                                     "inception", kind="dict")],
        data: Annotated[Any, Key("the data config the references come from (the run's)",
                                 kind="dict")],
        cache_dir: Annotated[str, Key("where reference statistics and judges are cached",
                                      kind="path")],
        every_n_epochs: Annotated[int, Key("evaluate every this many epochs and after the "
                                           "last (0: the last only)", min=0)] = 10,
        n_samples: Annotated[int | None, Key(
            "generated images per evaluation (all ranks together); null: as many as the "
            "stage's reference split holds (FID's bias falls with the smaller set), at "
            "least min_samples", min=2)] = None,
        n_reference: Annotated[int | None, Key(
            "the first n images of each reference split; null: all of them (more than a "
            "split holds is refused before training)", min=2)] = None,
        min_samples: Annotated[int, Key("the fewest generated images when n_samples is null",
                                        min=2)] = 1000,
        batch_size: Annotated[int, Key("images per sampling chunk (each chunk has its own "
                                       "fixed seed)", min=1)] = 500,
        seed: Annotated[int, Key("seed of the generated images' noise", min=0,
                                 max=2**32 - 1)] = 0,
        kid_subsets: Annotated[int, Key("KID's subsets", min=1)] = 100,
        kid_subset_size: Annotated[int, Key("KID's subset size (clamped to the number of "
                                            "reference / generated images)", min=2)] = 1000,
        is_splits: Annotated[int, Key("Inception Score's splits", min=1)] = 10,
        prc_neighborhood: Annotated[int, Key("k of the k-NN manifolds of precision/recall",
                                             min=1)] = 3,
    ) -> None:
        from omegaconf import OmegaConf

        plain = (lambda c: OmegaConf.to_container(c, resolve=True)  # noqa: E731
                 if OmegaConf.is_config(c) else dict(c))
        self.features_cfg, self.data = plain(features), plain(data)
        self.cache_dir, self.every_n_epochs = cache_dir, every_n_epochs
        self.n_samples, self.n_reference = n_samples, n_reference
        self.min_samples = min_samples
        self.stage_samples: dict[str, int] = {}  # stage → generated images per evaluation
        self.stage_labels: dict[str, torch.Tensor] = {}  # stage → (n,) conditioning labels
        self.batch_size, self.seed = batch_size, seed
        self.options = {"kid_subsets": kid_subsets, "kid_subset_size": kid_subset_size,
                        "is_splits": is_splits, "prc_neighborhood": prc_neighborhood}
        self.metrics: dict[str, Any] = {}  # stage → SampleQualityMetrics, built when needed
        self.extractor = None

    # --- building the suite ----------------------------------------------------------------
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self._applies(trainer, pl_module) and self.extractor is None:
            check_reference_size(trainer.datamodule, self.n_reference)  # before any training
            self.extractor = self.build_extractor(trainer.datamodule)
            self._log_judge(trainer)

    def judge_identity(self) -> dict[str, Any] | None:
        """Which feature network made this run's numbers: its name, its cache entry (the
        dataset and the hash of its training recipe) and its weights' SHA-256 — what pins
        the judge (experiments/README.md: the same samples move more between judges than
        between the checkpoints they rank). None before the suite is built."""
        if self.extractor is None:
            return None
        entry = getattr(self.extractor, "entry", None)
        return {"name": self.extractor.name,
                "weights_sha256": self.extractor.identity.get("weights_sha256"),
                "cache_entry": entry.name if entry is not None else None}

    def _log_judge(self, trainer: L.Trainer) -> None:
        """The judge's identity in the W&B run config (`judge/*`), beside the numbers it
        makes; metrics.json's record carries it too (genlab/runtime/fit.py)."""
        from lightning.pytorch.loggers import WandbLogger

        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_hyperparams({f"judge/{k}": v
                                        for k, v in (self.judge_identity() or {}).items()})

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.extractor is not None and "val" not in self.metrics:
            self.metrics["val"] = self.build(trainer.datamodule, pl_module, "val",
                                             trainer.global_rank, trainer.world_size)

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.extractor is not None and "test" not in self.metrics:
            self.metrics["test"] = self.build(trainer.datamodule, pl_module, "test",
                                              trainer.global_rank, trainer.world_size)

    @staticmethod
    def _applies(trainer: L.Trainer, pl_module: L.LightningModule) -> bool:
        return (not trainer.fast_dev_run and is_image_model(pl_module)
                and trainer.datamodule is not None)

    def build_extractor(self, datamodule: Any) -> Any:
        from genlab.config.instantiate import instantiate

        return instantiate(self.features_cfg, datamodule=datamodule,
                           data_key=data_key(self.data), _recursive_=False, _convert_="all")

    def build(self, datamodule: Any, pl_module: L.LightningModule, stage: str = "val",
              rank: int = 0, world_size: int = 1):
        """The metrics of one stage, against the features of that stage's reference split."""
        from genlab.metrics.reference_cache import cached_features
        from genlab.metrics.suite import SampleQualityMetrics, labels_like

        if self.extractor is None:
            self.extractor = self.build_extractor(datamodule)
        extractor, dkey, split = self.extractor, data_key(self.data), STAGE_SPLIT[stage]
        key = {"dataset_name": dkey.get("name", "data"), "dataset": dkey,
               "split": split, "n": self.n_reference,
               "extractor_name": extractor.name, "extractor": extractor.identity}
        device = pl_module.device
        reference = cached_features(self.cache_dir, key, lambda: extract(
            extractor, reference_images(datamodule, split, self.n_reference, self.batch_size),
            self.batch_size, device))
        judged = extractor.accuracy(split, datamodule) if isinstance(extractor, Judge) else None
        self.stage_samples[stage] = self.samples_for(len(reference))
        if pl_module.conditional:  # the reference's class mix, not uniform labels
            self.stage_labels[stage] = labels_like(
                reference_labels(datamodule, split, self.n_reference),
                self.stage_samples[stage], pl_module.num_classes,
                self.seed * 1_000_003 + STAGE_SEED_OFFSET[stage])
        return SampleQualityMetrics(
            extractor, torch.from_numpy(reference), self.stage_samples[stage],
            num_classes=pl_module.num_classes if pl_module.conditional else 0, rank=rank,
            world_size=world_size, judge_accuracy=judged, **self.options)

    def samples_for(self, n_reference: int) -> int:
        """Generated images per evaluation: `n_samples`, or (null) as many as the reference
        split holds — the convention of torch-fidelity and StudioGAN, since FID's bias falls
        with the smaller of the two set sizes — but at least `min_samples`."""
        if self.n_samples is not None:
            return self.n_samples
        return max(n_reference, self.min_samples)

    # --- evaluating ------------------------------------------------------------------------
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if "val" in self.metrics and epoch_due(trainer, self.every_n_epochs):
            pl_module.log_dict(self.evaluate(pl_module, trainer.global_rank, trainer.world_size,
                                             "val"), sync_dist=True)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if "test" in self.metrics:
            pl_module.log_dict(self.evaluate(pl_module, trainer.global_rank, trainer.world_size,
                                             "test"), sync_dist=True)

    @torch.no_grad()
    def evaluate(self, pl_module: L.LightningModule, rank: int = 0, world_size: int = 1,
                 stage: str = "val") -> dict[str, float]:
        """Draw this rank's chunks of samples (the stage's own noise), update, compute
        (synced), reset."""
        metrics = self.metrics[stage].to(pl_module.device)
        base = self.seed * 1_000_003 + STAGE_SEED_OFFSET[stage]
        # every rank needs at least one chunk (KID's feature lists cannot be gathered from
        # a rank that holds none), so fewer samples than batch_size × ranks are dealt in
        # smaller chunks; only then do the samples depend on the number of ranks
        n = self.stage_samples[stage]
        chunk_size = min(self.batch_size, math.ceil(n / world_size))
        for chunk in range(rank, math.ceil(n / chunk_size), world_size):
            start = chunk * chunk_size
            size = min(chunk_size, n - start)
            labels = None
            if pl_module.conditional:
                labels = self.stage_labels[stage][start : start + size].to(pl_module.device)
            with fixed_rng(base + chunk, pl_module.device):
                images = pl_module.sample(size, labels)
            metrics.update(images, labels)
        # KID's subsets and IS's splits draw from the global RNG: a fixed seed keeps the
        # values reproducible and the training RNG stream untouched by the evaluation
        with warnings.catch_warnings(), fixed_rng(base, pl_module.device):
            warnings.simplefilter("ignore", UserWarning)
            values = metrics.compute()
        metrics.reset()
        return {f"{stage}/{k}": v for k, v in values.items()}
