"""Stand-ins for the sample-quality tests: a pass-through extractor and image sources."""

from __future__ import annotations

import torch
from torch import nn


class PassThroughFeatures(nn.Module):
    """'Images' that are already features: x (B, D) → features x, logits x[:, :10]."""

    name, metric_suffix = "passthrough", "_passthrough"

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.num_features, self.num_logits = dim, min(dim, 10)
        self.identity = {"name": self.name}
        self.info: dict[str, float] = {}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x, x[:, : self.num_logits]


class ImageSource(nn.Module):
    """A 'generator' that hands out fixed images in order (cycling): sample(n) → (n, C, H, W);
    an unconditional GenerativeModel (genlab/models/generative.py)."""

    conditional, num_classes = False, 0

    def __init__(self, images: torch.Tensor) -> None:
        super().__init__()
        self.images, self.cursor = images, 0
        self.data_shape = tuple(images.shape[1:])

    @property
    def device(self) -> torch.device:
        return self.images.device

    def sample(self, n: int, labels: torch.Tensor | None = None) -> torch.Tensor:
        index = torch.arange(self.cursor, self.cursor + n) % len(self.images)
        self.cursor += n
        return self.images[index]
