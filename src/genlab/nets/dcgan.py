"""DCGAN generator and discriminator (Radford et al. 2015).

Generator: z → 4×4 by a fractionally-strided conv (the "projection"), then 4×4 stride-2
transposed convs that double the size, BatchNorm + ReLU between them, tanh output in
[−1, 1]. Discriminator: the mirror image, 4×4 stride-2 convs with LeakyReLU(0.2) and
BatchNorm (none on the input layer) down to 4×4, then one linear logit. Square images of
side 8, 16, 32 or 64 (4 · 2^k); 28×28 MNIST is padded or resized to 32 in the data config.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
from torch import nn

from genlab.config.choices import DCGAN_SIZES as SIZES
from genlab.config.keys import Key
from genlab.errors import ConfigError


def upsampling_stages(shape: Sequence[int], key: str) -> int:
    """Number of ×2 stages from 4×4 to the image size of `shape` = (C, H, W)."""
    h, w = shape[-2], shape[-1]
    if h != w or h not in SIZES:
        raise ConfigError(
            key, f"{h}×{w} images", "square images of side " + ", ".join(map(str, SIZES)),
            "Resize or pad the data to one of them (e.g. data.image_size=32 for MNIST).",
        )
    return {8: 1, 16: 2, 32: 3, 64: 4}[h]


def dcgan_init(module: nn.Module) -> None:
    """DCGAN's initialisation: conv/linear weights ~ N(0, 0.02), BatchNorm γ ~ N(1, 0.02),
    biases 0. Use with `net.apply(dcgan_init)`."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    """z: (B, latent_dim) → (B, C, H, W) in [−1, 1]. Channels halve at each stage, from
    base_channels · 2^(stages−1) at 4×4 to base_channels before the output layer."""

    def __init__(self, latent_dim: int, out_shape: Sequence[int],
                 base_channels: Annotated[int, Key(
                     "channels of the last (image side) conv stage, doubled per stage inward",
                     min=1)] = 64) -> None:
        super().__init__()
        stages = upsampling_stages(out_shape, "model.generator")
        widths = [base_channels * 2**i for i in reversed(range(stages))]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]), nn.ReLU(True),
        ]
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], out_shape[0], 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """x: (B, C, H, W) in [−1, 1] → logits (B,). `features(x)`: (B, feature_dim), the
    flattened 4×4 maps that the logit (and a projection head) reads."""

    def __init__(self, in_shape: Sequence[int],
                 base_channels: Annotated[int, Key(
                     "channels of the first (image side) conv stage, doubled per stage inward",
                     min=1)] = 64) -> None:
        super().__init__()
        stages = upsampling_stages(in_shape, "model.discriminator")
        widths = [base_channels * 2**i for i in range(stages)]
        layers: list[nn.Module] = [nn.Conv2d(in_shape[0], widths[0], 4, 2, 1),
                                   nn.LeakyReLU(0.2, True)]
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out),
                       nn.LeakyReLU(0.2, True)]
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.feature_dim = widths[-1] * 16
        self.head = nn.Linear(self.feature_dim, 1)
        self.apply(dcgan_init)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(-1)
