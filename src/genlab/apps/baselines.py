"""Completion baselines run beside the model on the same images and masks: the training
mean image, the nearest training image by L2 on the known pixels (its hole copied in), and
scikit-image's biharmonic inpainting. Each: x (B, C, H, W) in [0, 1], mask (B, 1, H, W),
1 = known → the completed images (B, C, H, W), known pixels kept."""

from __future__ import annotations

import numpy as np
import torch

from genlab.apps.complete import paste_known


def mean_fill(x: torch.Tensor, mask: torch.Tensor, mean_image: torch.Tensor) -> torch.Tensor:
    """The hole filled with the training mean image (C, H, W)."""
    return paste_known(x, mask, mean_image.expand_as(x))


def nearest_neighbour(x: torch.Tensor, mask: torch.Tensor, train: torch.Tensor,
                      chunk: int = 2048) -> torch.Tensor:
    """The hole filled from the training image (train: (N, C, H, W)) nearest to x by L2 on
    x's known pixels: ‖M ⊙ (x − t)‖² = Σ M x² − 2 (M ⊙ x)·t + M·t², in chunks of `chunk`
    training images (memory: B × chunk distances)."""
    m = mask.expand_as(x).flatten(1)
    mx = (m * x.flatten(1))
    best_d = torch.full((len(x),), float("inf"))
    best_i = torch.zeros(len(x), dtype=torch.long)
    for start in range(0, len(train), chunk):
        t = train[start:start + chunk].flatten(1)
        d = (mx * x.flatten(1)).sum(1, keepdim=True) - 2 * mx @ t.T + m @ t.pow(2).T
        value, index = d.min(1)
        better = value < best_d
        best_d = torch.where(better, value, best_d)
        best_i = torch.where(better, index + start, best_i)
    return paste_known(x, mask, train[best_i])


def biharmonic(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """scikit-image's `inpaint_biharmonic`, one image at a time."""
    from skimage.restoration import inpaint_biharmonic

    out = []
    for image, known in zip(x.cpu().numpy(), mask.cpu().numpy(), strict=True):
        hole = known[0] < 0.5
        filled = inpaint_biharmonic(np.moveaxis(image, 0, -1), hole, channel_axis=-1)
        out.append(np.moveaxis(filled, -1, 0))
    result = torch.from_numpy(np.stack(out)).float().clamp(0, 1)
    return paste_known(x, mask, result)
