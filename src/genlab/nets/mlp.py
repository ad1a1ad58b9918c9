"""Fully connected encoder and decoder for flat or image data."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated

import torch
from torch import nn

from genlab.config.keys import Key


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """x: (B, *in_shape) → (B, out_dim)."""

    def __init__(self, in_shape: Sequence[int], out_dim: int,
                 hidden_dims: Annotated[Sequence[int], Key(
                     "widths of the hidden layers, input side first", min=1)]) -> None:
        super().__init__()
        self.net = mlp([math.prod(in_shape), *hidden_dims, out_dim])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class MLPDecoder(nn.Module):
    """z: (B, latent_dim) → (B, *out_shape)."""

    def __init__(
        self, latent_dim: int, out_shape: Sequence[int],
        hidden_dims: Annotated[Sequence[int], Key("widths of the hidden layers, z side first",
                                                  min=1)],
    ) -> None:
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.net = mlp([latent_dim, *hidden_dims, math.prod(out_shape)])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.out_shape)
