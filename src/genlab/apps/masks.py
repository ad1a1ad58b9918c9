"""Completion masks (1 = known pixel, 0 = the hole) and Yeh et al.'s importance weights."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from genlab.config.schema import COMPLETION_MASKS

MASKS = COMPLETION_MASKS


def make_mask(name: str, n: int, height: int, width: int, *, fraction: float = 0.8,
              box: Sequence[int] | None = None,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, 1, H, W) float: 1 where the pixel is known. center: the middle H/2 × W/2 block
    missing (a quarter of the image); bottom_half / left_half; random: each pixel missing with
    probability `fraction`; box: [top, left, height, width] missing."""
    known = torch.ones(n, 1, height, width)
    if name == "center":
        top, left = height // 4, width // 4
        known[..., top:top + height // 2, left:left + width // 2] = 0
    elif name == "bottom_half":
        known[..., height // 2:, :] = 0
    elif name == "left_half":
        known[..., :, : width // 2] = 0
    elif name == "random":
        known = (torch.rand(n, 1, height, width, generator=generator) >= fraction).float()
    elif name == "box":
        top, left, h, w = box
        known[..., top:top + h, left:left + w] = 0
    else:
        raise ValueError(f"unknown mask {name!r}; one of {', '.join(MASKS)}")
    return known


def importance_weights(mask: torch.Tensor, window: int | None) -> torch.Tensor:
    """Yeh et al. 2017, eq. 3: W_i = Σ_{j ∈ N(i)} (1 − M_j) / |N(i)| for a known pixel i
    (M_i = 1), 0 in the hole; N(i) the window × window neighbourhood of i inside the image
    (|N(i)| counts only pixels inside it). Known pixels far from the hole weigh nothing.
    window=None: uniform weights, W = M. mask: (B, 1, H, W) → (B, 1, H, W)."""
    if window is None:
        return mask
    missing_share = F.avg_pool2d(1 - mask, window, stride=1, padding=window // 2,
                                 count_include_pad=False)
    return mask * missing_share
