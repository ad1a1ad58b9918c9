"""scikit-learn's 8×8 handwritten digits: the embedded default dataset (no download).

1,797 grey-scale images with 17 grey levels (0..16), scaled to [0, 1] by /16. The split is
fixed by `split_seed` (default 0): 360 test, 180 val, 1,257 train.
"""

from __future__ import annotations

from typing import Annotated

import torch
from torch.utils.data import Dataset

from genlab.config.choices import DIGITS_CLASSES, DIGITS_SHAPE
from genlab.config.keys import Key
from genlab.data.base import SplitDataModule, image_tensor_dataset, seeded_split


class DigitsDataModule(SplitDataModule):
    def __init__(self,
                 val_size: Annotated[int, Key("validation images (of 1,797)", min=1)] = 180,
                 test_size: Annotated[int, Key("test images (of 1,797)", min=1)] = 360,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.val_size, self.test_size = val_size, test_size

    @property
    def shape(self) -> tuple[int, ...]:
        return DIGITS_SHAPE

    @property
    def num_classes(self) -> int:
        return DIGITS_CLASSES

    def build_splits(self) -> dict[str, Dataset]:
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = torch.from_numpy(digits.images).float().div(16.0).unsqueeze(1)
        y = torch.from_numpy(digits.target)
        n = len(x)
        test, val, train = seeded_split(
            n, [self.test_size, self.val_size, n - self.test_size - self.val_size],
            self.split_seed,
        )
        return {
            "train": image_tensor_dataset(x[train], y[train]),
            "val": image_tensor_dataset(x[val], y[val]),
            "test": image_tensor_dataset(x[test], y[test]),
        }
