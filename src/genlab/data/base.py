"""The in-memory data module that every small dataset shares.

Small datasets (digits, MNIST-likes, CIFAR-10) fit in memory as one uint8/float tensor;
holding them as tensors avoids per-item decoding and worker processes entirely.
"""

from __future__ import annotations

from typing import Annotated

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from genlab.config.keys import Key, check
from genlab.errors import ConfigError


class DeviceTensorBatches:
    """Batches of an in-memory (x, y) dataset held on the training device.

    A DataLoader over a TensorDataset fetches B items one by one and stacks them on the
    host every step; here a batch is one index into tensors already on the device. The
    order and the global RNG draws are exactly those of a DataLoader with RandomSampler (its
    iterator's base seed, then one int64 that seeds a generator for `randperm`), so for the
    same seed batches and results are identical to the DataLoader path
    (tests/test_fast_path.py checks both, and fails when torch changes those draws; checked
    on torch 2.14.1).
    """

    BLOCK = 16  # batches gathered together

    def __init__(self, tensors: tuple[torch.Tensor, ...], batch_size: int, shuffle: bool,
                 device: torch.device) -> None:
        self.tensors = tuple(t.to(device) for t in tensors)
        self.batch_size, self.shuffle = batch_size, shuffle
        self.n = len(self.tensors[0])

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self):
        # a DataLoader iterator first draws its workers' base seed, then the sampler's seed
        torch.empty((), dtype=torch.int64).random_()
        if self.shuffle:
            seed = int(torch.empty((), dtype=torch.int64).random_().item())
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(seed))
            order = order.to(self.tensors[0].device)
        else:
            order = None
        # shuffled rows are gathered BLOCK batches at a time, and each batch is a slice of
        # its block: one gather per block instead of one per batch and tensor (0.1 ms of a
        # 7 ms digits VAE step), at the cost of one block's copy of memory
        block = self.batch_size * self.BLOCK
        for start in range(0, self.n, block):
            if order is None:
                rows = [t[start : start + block] for t in self.tensors]
            else:
                rows = [t[order[start : start + block]] for t in self.tensors]
            for at in range(0, len(rows[0]), self.batch_size):
                yield [r[at : at + self.batch_size] for r in rows]


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
        name: Annotated[str, Key("the data's name in run names and cache entries")],
        batch_size: Annotated[int, Key("training batch per device", min=1)] = 128,
        eval_batch_size: Annotated[int | None, Key("validation/test batch per device (null: "
                                                   "batch_size)", min=1)] = None,
        num_workers: Annotated[int, Key("DataLoader worker processes (in_memory: unused)",
                                        min=0)] = 0,
        pin_memory: Annotated[bool, Key("DataLoader pin_memory (GPU runs)")] = False,
        split_seed: Annotated[int, Key("seed of the train/val/test split", min=0,
                                       max=2**32 - 1)] = 0,
        in_memory: Annotated[bool, Key("batches indexed from tensors on the training device "
                                       "(no DataLoader)")] = True,
    ) -> None:
        super().__init__()
        check("genlab.data.base.SplitDataModule", locals())
        self.name = name
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.split_seed = split_seed
        self.in_memory = in_memory
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

    def split_size_error(self, split: str, minimum: int) -> ConfigError:
        """The error for a `split` that holds fewer than `minimum` items, naming the config
        key that sizes it (subclasses whose splits are sized otherwise override this)."""
        key = f"{split}_size"
        return ConfigError(f"data.{key}", getattr(self, key, None), f"an integer ≥ {minimum}")

    def require_split_size(self, split: str, minimum: int, why: str) -> None:
        """Raise `split_size_error` when the loaded `split` holds fewer than `minimum` items."""
        self.setup()
        held = len(self.splits[split])
        if held < minimum:
            err = self.split_size_error(split, minimum)
            raise ConfigError(err.key, err.value, err.allowed,
                              f"The {split} split holds {held}; {why}")

    # --- Lightning hooks -----------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            self.splits = self.build_splits()

    def _loader(self, split: str, shuffle: bool, batch_size: int) -> DataLoader:
        self.setup()
        dataset = self.splits[split]
        device = self._fast_path_device(dataset)
        if device is not None:
            return DeviceTensorBatches(dataset.tensors, batch_size, shuffle, device)
        return DataLoader(
            self.splits[split],
            batch_size=batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def _fast_path_device(self, dataset: Dataset) -> torch.device | None:
        """The device for DeviceTensorBatches, or None for the DataLoader path: tensor data
        only, one process (DDP needs the DistributedSampler), and room on the device."""
        if not (self.in_memory and isinstance(dataset, TensorDataset)):
            return None
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return torch.device("cpu")
        if trainer.world_size > 1:
            return None
        device = trainer.strategy.root_device
        if device.type == "cuda":
            size = sum(t.numel() * t.element_size() for t in dataset.tensors)
            free, _ = torch.cuda.mem_get_info(device)
            if size > free // 4:  # leave the device to the model
                return None
        return device

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
