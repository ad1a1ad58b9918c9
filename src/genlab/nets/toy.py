"""MLP generator and discriminator for low-dimensional data (the 2-D toy mixtures)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated

import torch
from torch import nn

from genlab.config.keys import Key


def _stack(sizes: Sequence[int], activation: type[nn.Module]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(n_in, n_out), activation()]
    return layers


class MLPGenerator(nn.Module):
    """z: (B, latent_dim) → (B, *out_shape), unbounded (raw 2-D points)."""

    def __init__(self, latent_dim: int, out_shape: Sequence[int],
                 hidden_dims: Annotated[Sequence[int], Key(
                     "widths of the hidden layers, z side first", min=1)] = (128, 128)) -> None:
        super().__init__()
        self.out_shape = tuple(out_shape)
        sizes = [latent_dim, *hidden_dims]
        self.net = nn.Sequential(*_stack(sizes, nn.ReLU),
                                 nn.Linear(sizes[-1], math.prod(out_shape)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.out_shape)


class MLPDiscriminator(nn.Module):
    """x: (B, *in_shape) → logits (B,); `features(x)`: (B, feature_dim) before the logit."""

    def __init__(self, in_shape: Sequence[int],
                 hidden_dims: Annotated[Sequence[int], Key(
                     "widths of the hidden layers, input side first", min=1)] = (128, 128)
                 ) -> None:
        super().__init__()
        sizes = [math.prod(in_shape), *hidden_dims]
        self.body = nn.Sequential(nn.Flatten(), *_stack(sizes, lambda: nn.LeakyReLU(0.2)))
        self.feature_dim = sizes[-1]
        self.head = nn.Linear(self.feature_dim, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(-1)
