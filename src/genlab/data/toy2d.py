"""2-D Gaussian mixtures, the standard mode-collapse benchmarks.

- ring8: 8 Gaussians evenly spaced on a circle of radius 1, std 0.01 (PacGAN's setting).
- grid25: 25 Gaussians at {−4, −2, 0, 2, 4}², std 0.05.

Every split draws each point from a uniformly chosen mode, with a generator fixed by
`split_seed`, so the data is the same in every run. x: raw 2-D points (not scaled);
y: the index of the mode the point was drawn from, so `num_classes` = number of modes
(a conditional GAN can use it). The modes' centres and std are exposed as `mode_centers`
(K, 2) and `mode_std` for the mode-coverage metrics.
"""

from __future__ import annotations

import math
from typing import Annotated

import torch
from torch.utils.data import Dataset, TensorDataset

from genlab.config.keys import Key, check
from genlab.data.base import SplitDataModule


class GaussianMixture2D(SplitDataModule):
    """Base class: subclasses give `mode_centers`."""

    def __init__(self,
                 std: Annotated[float, Key("std of each Gaussian", min=1e-12)],
                 train_size: Annotated[int, Key("training points", min=1)] = 50_000,
                 val_size: Annotated[int, Key("validation points", min=1)] = 2500,
                 test_size: Annotated[int, Key("test points", min=1)] = 2500,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        check("genlab.data.toy2d.GaussianMixture2D", locals())
        self.mode_std = std
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}

    @property
    def mode_centers(self) -> torch.Tensor:
        raise NotImplementedError

    @property
    def shape(self) -> tuple[int, ...]:
        return (2,)

    @property
    def num_classes(self) -> int:
        return len(self.mode_centers)

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """n points (n, 2) and their mode indices (n,)."""
        centers = self.mode_centers
        y = torch.randint(len(centers), (n,), generator=generator)
        x = centers[y] + self.mode_std * torch.randn(n, 2, generator=generator)
        return x, y

    def build_splits(self) -> dict[str, Dataset]:
        gen = torch.Generator().manual_seed(self.split_seed)
        return {split: TensorDataset(*self.sample(n, gen)) for split, n in self.sizes.items()}


class Ring8(GaussianMixture2D):
    """`n_modes` Gaussians on a circle of `radius` (defaults: 8, 1.0, std 0.01)."""

    def __init__(self,
                 radius: Annotated[float, Key("radius of the circle", min=1e-12)] = 1.0,
                 n_modes: Annotated[int, Key("Gaussians on it", min=1)] = 8,
                 std: Annotated[float, Key("std of each Gaussian", min=1e-12)] = 0.01,
                 **kwargs) -> None:
        super().__init__(std=std, **kwargs)
        self.radius, self.n_modes = radius, n_modes

    @property
    def mode_centers(self) -> torch.Tensor:
        angle = torch.arange(self.n_modes, dtype=torch.float64) * (2 * math.pi / self.n_modes)
        return (self.radius * torch.stack([angle.cos(), angle.sin()], dim=1)).float()


class Grid25(GaussianMixture2D):
    """`side`² Gaussians on a square grid with `spacing`, centred on 0 (defaults: 5, 2.0,
    std 0.05 → centres {−4, −2, 0, 2, 4}²)."""

    def __init__(self,
                 side: Annotated[int, Key("Gaussians per side of the square grid", min=1)] = 5,
                 spacing: Annotated[float, Key("distance between neighbouring centres",
                                               min=1e-12)] = 2.0,
                 std: Annotated[float, Key("std of each Gaussian", min=1e-12)] = 0.05,
                 **kwargs) -> None:
        super().__init__(std=std, **kwargs)
        self.side, self.spacing = side, spacing

    @property
    def mode_centers(self) -> torch.Tensor:
        axis = (torch.arange(self.side, dtype=torch.float32) - (self.side - 1) / 2) * self.spacing
        return torch.cartesian_prod(axis, axis)
