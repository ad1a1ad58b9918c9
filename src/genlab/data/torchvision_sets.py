"""MNIST, Fashion-MNIST and CIFAR-10 through torchvision, held in memory as tensors.

Files are read from `data_dir` in torchvision's layout (`MNIST/raw/*-ubyte`,
`FashionMNIST/raw/*-ubyte`, `cifar-10-batches-py/`). Nothing is downloaded unless
`data.download=true`; compute nodes without internet get a `DataNotFoundError` naming the
directory and the command that fetches it on a machine with internet.
"""

from __future__ import annotations

import math
import pickle
import struct
from pathlib import Path
from typing import Annotated

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from genlab.config.choices import RESIZE_MODES, TORCHVISION_DATASETS
from genlab.config.keys import Key, check
from genlab.data.base import SplitDataModule, image_tensor_dataset, seeded_split
from genlab.errors import ConfigError, DataFormatError, DataNotFoundError

DATASETS = TORCHVISION_DATASETS  # name → (torchvision class, (C, H, W), folder, classes)


def _torchvision_class(class_name: str, verify_md5: bool) -> type:
    import torchvision.datasets as tvd

    cls = getattr(tvd, class_name)
    if verify_md5 or not hasattr(cls, "train_list"):
        return cls

    # CIFAR's loader checks the md5 of every batch file; files written by tests (or
    # re-packed by a user) carry the same format but other bytes. With md5 None,
    # torchvision's check_integrity only checks that each file exists.
    class _Unverified(cls):
        train_list = [(name, None) for name, _ in cls.train_list]
        test_list = [(name, None) for name, _ in cls.test_list]
        meta = {**cls.meta, "md5": None}

    return _Unverified


def expected_files(name: str, data_dir: str, train: bool) -> list[Path]:
    """The files torchvision reads for one split, in its on-disk layout."""
    import torchvision.datasets as tvd

    class_name, _, folder, _ = DATASETS[name]
    cls = getattr(tvd, class_name)
    if hasattr(cls, "resources"):  # MNIST-likes: <folder>/raw/<name>-ubyte
        prefix = "train" if train else "t10k"
        names = [Path(url).name.removesuffix(".gz") for url, _ in cls.resources]
        return [Path(data_dir, folder, "raw", n) for n in names if n.startswith(prefix)]
    listed = cls.train_list if train else cls.test_list
    return [Path(data_dir, folder, n) for n, _ in listed] + [
        Path(data_dir, folder, cls.meta["filename"])]


def check_idx_file(path: Path) -> None:
    """An IDX file's size must match its header (catches truncated MNIST files by name)."""
    with open(path, "rb") as f:
        header = f.read(4)
        if len(header) < 4 or header[:2] != b"\0\0":
            raise DataFormatError(f"{path} is not an IDX file (bad magic number).")
        dims = struct.unpack(f">{header[3]}I", f.read(4 * header[3]))
    expected = 4 + 4 * len(dims) + math.prod(dims)
    if path.stat().st_size != expected:
        raise DataFormatError(
            f"{path} is truncated or corrupt: {path.stat().st_size} bytes, its header "
            f"announces {expected}. Delete it and fetch the dataset again.")


def load_split(
    name: str, data_dir: str, train: bool, download: bool, verify_md5: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load one official split as uint8 images (N, C, H, W) and long labels (N,)."""
    class_name, native, folder, _ = DATASETS[name]
    files = expected_files(name, data_dir, train)
    missing = [f for f in files if not f.is_file()]
    if missing and not download:
        raise DataNotFoundError(
            f"Dataset `{name}` was not found in {Path(data_dir, folder).resolve()} (missing: "
            f"{', '.join(f.name for f in missing)}). Fetch it on a machine with internet with "
            f"`genlab-train data={name} data.download=true paths.data_dir={data_dir} "
            f"trainer.max_epochs=0` (or copy the torchvision files there), then run again.")
    for f in files:
        if f.name.endswith("-ubyte") and f.is_file():
            check_idx_file(f)
    cls = _torchvision_class(class_name, verify_md5)
    try:
        ds = cls(root=data_dir, train=train, download=download)
    except (RuntimeError, EOFError, ValueError, KeyError, pickle.UnpicklingError) as err:
        kind = DataNotFoundError if download else DataFormatError
        raise kind(
            f"Dataset `{name}` in {Path(data_dir, folder).resolve()} could not be read "
            f"({err!s:.200}). Its files ({', '.join(f.name for f in files)}) are corrupt, "
            "truncated or fail the md5 check (data.verify_md5=false skips it for re-packed "
            "files); delete them and fetch again.") from err
    data = torch.as_tensor(ds.data)
    images = data.permute(0, 3, 1, 2) if data.ndim == 4 else data.unsqueeze(1)
    if tuple(images.shape[1:]) != native:
        raise DataFormatError(
            f"Dataset `{name}` in {Path(data_dir, folder).resolve()} holds images of shape "
            f"{tuple(images.shape[1:])}, expected {native}; the files are not {name}.")
    return images.contiguous(), torch.as_tensor(ds.targets).long()


class TorchvisionDataModule(SplitDataModule):
    """MNIST, Fashion-MNIST or CIFAR-10; the validation set is held out of the train split."""

    def __init__(
        self,
        dataset: Annotated[str, Key("the torchvision dataset",
                                    choices=TORCHVISION_DATASETS)],
        data_dir: Annotated[str, Key("where its files are (torchvision's layout)",
                                     kind="path")],
        download: Annotated[bool, Key("download missing files (needs internet; "
                                      "genlab-fetch on a login node)")] = False,
        image_size: Annotated[int | None, Key("side of the images (null: native)",
                                              min=8)] = None,
        resize: Annotated[str, Key("to another side: pad (a border) | bilinear",
                                   choices=RESIZE_MODES)] = "pad",
        val_size: Annotated[int, Key("validation images held out of the official train "
                                     "split", min=1)] = 5000,
        verify_md5: Annotated[bool, Key("check the files' md5 sums (false for re-packed "
                                        "files)")] = True,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        check("genlab.data.torchvision_sets.TorchvisionDataModule", locals())
        native = DATASETS[dataset][1][1]
        self.image_size = image_size or native
        if self.image_size < native and resize == "pad":
            raise ConfigError(
                "data.image_size", image_size, f"≥ {native} with resize=pad",
                "Use data.resize=bilinear to shrink images.",
            )
        self.dataset, self.data_dir, self.download = dataset, data_dir, download
        self.resize, self.val_size, self.verify_md5 = resize, val_size, verify_md5

    @property
    def shape(self) -> tuple[int, ...]:
        channels = DATASETS[self.dataset][1][0]
        return (channels, self.image_size, self.image_size)

    @property
    def num_classes(self) -> int:
        return DATASETS[self.dataset][3]

    def split_size_error(self, split: str, minimum: int) -> ConfigError:
        n_train = len(self.splits["train"]) + len(self.splits["val"])
        if split == "val":
            return ConfigError("data.val_size", self.val_size,
                               f"an integer in [{minimum}, {n_train - 1}]")
        return ConfigError("data.data_dir", self.data_dir,
                           f"a `{self.dataset}` whose test files hold ≥ {minimum} images")

    def prepare_data(self) -> None:
        # Lightning calls this on one process per node: the only place a download may run.
        if self.download:
            for train in (True, False):
                load_split(self.dataset, self.data_dir, train, True, self.verify_md5)

    def _resized(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float().div(255.0)
        size = self.image_size
        if size == x.shape[-1]:
            return x
        if self.resize == "pad":
            total = size - x.shape[-1]
            return F.pad(x, (total // 2, total - total // 2, total // 2, total - total // 2))
        return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True).clamp(0, 1)

    def build_splits(self) -> dict[str, Dataset]:
        load = lambda train: load_split(  # noqa: E731
            self.dataset, self.data_dir, train, False, self.verify_md5
        )
        x_train, y_train = load(True)
        x_test, y_test = load(False)
        if self.val_size >= len(x_train):
            raise ConfigError(
                "data.val_size", self.val_size, f"an integer in [1, {len(x_train) - 1}]",
                f"The validation split is held out of the {len(x_train)} train images of "
                f"`{self.dataset}` in {self.data_dir}; leave some to train on "
                "(e.g. data.val_size=500 for the 5,000-digit MNIST subset).")
        val, train = seeded_split(
            len(x_train), [self.val_size, len(x_train) - self.val_size], self.split_seed
        )
        x_train, x_test = self._resized(x_train), self._resized(x_test)
        return {
            "train": image_tensor_dataset(x_train[train], y_train[train]),
            "val": image_tensor_dataset(x_train[val], y_train[val]),
            "test": image_tensor_dataset(x_test, y_test),
        }
