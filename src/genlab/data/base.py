"""The in-memory data module that every small dataset shares.

Small datasets (digits, MNIST-likes, CIFAR-10) fit in memory as one uint8/float tensor;
holding them as tensors avoids per-item decoding and worker processes entirely.
"""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from genlab.errors import ConfigError


def seeded_split(n: int, sizes: list[int], seed: int) -> list[torch.Tensor]:
    """Split range(n) into index tensors of the given sizes with a fixed permutation.

    The permutation depends only on `seed` (not on the run's seed), so every run sees the
    same train/val/test split.
    """
    if sum(sizes) > n:
        raise ValueError(f"split sizes {sizes} exceed {n} items")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    out, start = [], 0
    for size in sizes:
        out.append(perm[start : start + size])
        start += size
    return out


class SplitDataModule(L.LightningDataModule):
    """Serves train/val/test `Dataset`s built by `build_splits()` in subclasses.

    Batch size is per device: with DDP on N devices the global batch is N × batch_size.
    """

    def __init__(
        self,
        name: str,
        batch_size: int = 128,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        split_seed: int = 0,
    ) -> None:
        super().__init__()
        if batch_size <= 0:
            raise ConfigError("data.batch_size", batch_size, "an integer ≥ 1")
        self.name = name
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.split_seed = split_seed
        self.splits: dict[str, Dataset] = {}

    # --- what subclasses provide -------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one example x, e.g. (C, H, W)."""
        raise NotImplementedError

    @property
    def num_classes(self) -> int:
        """Number of classes (0 when the data has no labels)."""
        raise NotImplementedError

    def build_splits(self) -> dict[str, Dataset]:
        """Return {"train": ..., "val": ..., "test": ...}."""
        raise NotImplementedError

    # --- Lightning hooks -----------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            self.splits = self.build_splits()

    def _loader(self, split: str, shuffle: bool, batch_size: int) -> DataLoader:
        self.setup()
        return DataLoader(
            self.splits[split],
            batch_size=batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True, self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False, self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", False, self.eval_batch_size)


def image_tensor_dataset(images: torch.Tensor, labels: torch.Tensor) -> TensorDataset:
    """uint8 (N, C, H, W) or float images in [0, 1] → TensorDataset of float x and long y."""
    x = images.float().div(255.0) if images.dtype == torch.uint8 else images.float()
    return TensorDataset(x.contiguous(), labels.long())
