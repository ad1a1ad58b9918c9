"""Convolutional encoder and decoder for square-ish images.

Each stage halves (encoder) or doubles (decoder) the spatial size with a 4×4 kernel,
stride 2, padding 1, so image height and width must be divisible by 2**len(channels)
(8×8 digits and 28×28 MNIST work with two stages, 32×32 and 64×64 with up to three/four).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
from torch import nn

from genlab.config.keys import Key
from genlab.errors import ParameterError


def _start_size(shape: Sequence[int], stages: int) -> tuple[int, int]:
    h, w = shape[-2], shape[-1]
    factor = 2**stages
    if h % factor or w % factor:
        raise ParameterError(
            "channels", f"{stages} stages for {h}×{w} images",
            f"a number of stages (list length) with {h} and {w} divisible by 2**stages",
        )
    return h // factor, w // factor


class ConvEncoder(nn.Module):
    """x: (B, C, H, W) → (B, out_dim)."""

    def __init__(self, in_shape: Sequence[int], out_dim: int,
                 channels: Annotated[Sequence[int], Key(
                     "channels per stage, image side first; each stage (4×4 conv, stride 2) "
                     "halves H and W", min=1)]) -> None:
        super().__init__()
        h, w = _start_size(in_shape, len(channels))
        layers: list[nn.Module] = []
        c_in = in_shape[0]
        for c_out in channels:
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.ReLU()]
            c_in = c_out
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(c_in * h * w, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class ConvDecoder(nn.Module):
    """z: (B, latent_dim) → (B, C, H, W); `channels` listed from the image side inward,
    like the encoder's, so the two configs mirror each other."""

    def __init__(
        self, latent_dim: int, out_shape: Sequence[int],
        channels: Annotated[Sequence[int], Key(
            "channels per stage, image side first (mirrors the encoder); each stage doubles "
            "H and W", min=1)],
    ) -> None:
        super().__init__()
        h, w = _start_size(out_shape, len(channels))
        inward = list(channels)[::-1]
        self.start = (inward[0], h, w)
        self.project = nn.Sequential(nn.Linear(latent_dim, inward[0] * h * w), nn.ReLU())
        layers: list[nn.Module] = []
        for c_in, c_out in zip(inward, [*inward[1:], inward[-1]], strict=True):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.ReLU()]
        layers.append(nn.Conv2d(inward[-1], out_shape[0], 3, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.project(z).view(-1, *self.start))
