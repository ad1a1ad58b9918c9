"""Class conditioning for generators and discriminators (Mirza & Osindero 2014; the
projection discriminator of Miyato & Koyama 2018).

- Generator: G(z, y) = G([z, e(y)]) with a learned label embedding e(y).
- Discriminator, `concat`: D(x, y) = D([x, e(y)]), the embedding joined to the input (as
  extra constant channels for images, extra features for vectors).
- Discriminator, `projection`: D(x, y) = ψ(φ(x)) + ⟨e(y), φ(x)⟩, φ the features.
"""

from __future__ import annotations

import torch
from torch import nn


def join_label(x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
    """x: (B, C, H, W) or (B, D); embedding: (B, E) → (B, C+E, H, W) or (B, D+E)."""
    if x.ndim == 4:
        embedding = embedding[:, :, None, None].expand(-1, -1, *x.shape[-2:])
    return torch.cat([x, embedding], dim=1)


class ConditionalGenerator(nn.Module):
    """(z: (B, latent_dim), y: (B,) long) → net([z, e(y)]); `net` takes latent_dim + E."""

    def __init__(self, net: nn.Module, num_classes: int, embed_dim: int) -> None:
        super().__init__()
        self.net, self.embed = net, nn.Embedding(num_classes, embed_dim)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, self.embed(y)], dim=1))


class ConcatDiscriminator(nn.Module):
    """(x, y) → net([x, e(y)]) logits (B,); `net` takes E extra input channels/features."""

    def __init__(self, net: nn.Module, num_classes: int, embed_dim: int) -> None:
        super().__init__()
        self.net, self.embed = net, nn.Embedding(num_classes, embed_dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(join_label(x, self.embed(y)))


class ProjectionDiscriminator(nn.Module):
    """(x, y) → ψ(φ(x)) + ⟨e(y), φ(x)⟩ logits (B,); `net` has `features` and `head`."""

    def __init__(self, net: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.net, self.embed = net, nn.Embedding(num_classes, net.feature_dim)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        phi = self.net.features(x)
        return self.net.head(phi).squeeze(-1) + (self.embed(y) * phi).sum(dim=1)
