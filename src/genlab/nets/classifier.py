"""A small convolutional classifier: the feature extractor of the `classifier` metrics.

Two 3×3 conv stages (the second with stride 2), global average pooling, a `feature_dim`
hidden layer and a linear head. `features(x)` is the hidden layer before its ReLU (dense,
roughly Gaussian features for Fréchet distances); `forward(x)` gives class logits. Works
for any image size ≥ 4×4 (8×8 digits to 64×64).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class ConvClassifier(nn.Module):
    """x: (B, C, H, W) in [0, 1] → features (B, feature_dim), logits (B, num_classes)."""

    def __init__(self, in_shape: Sequence[int], num_classes: int,
                 channels: Sequence[int] = (32, 64), feature_dim: int = 128) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_shape[0]
        for i, c_out in enumerate(channels):
            stride = 1 if i == 0 else 2
            layers += [nn.Conv2d(c_in, c_out, 3, stride, 1), nn.BatchNorm2d(c_out), nn.ReLU()]
            c_in = c_out
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(c_in, feature_dim))
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(0.2), nn.Linear(feature_dim, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))
