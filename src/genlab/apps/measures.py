"""Per-image measures of the apps' results. Images (B, C, H, W) in [0, 1]; masks
(B, 1, H, W), 1 = known. PSNR and SSIM come from torchmetrics (data range 1)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

MIN_MSE = 1e-10  # a perfect hole caps its PSNR at 100 dB


def hole_l1(result: torch.Tensor, original: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B,) mean |result − original| over the hole's pixels (all channels)."""
    return _hole_mean((result - original).abs(), mask)


def _hole_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    hole = (1 - mask).expand_as(values)
    return (values * hole).flatten(1).sum(1) / hole.flatten(1).sum(1).clamp_min(1)


def hole_psnr(result: torch.Tensor, original: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B,) PSNR in dB of the hole's pixels: 10 log10(1 / MSE over the hole)."""
    mse = _hole_mean((result - original).pow(2), mask)
    return 10 * torch.log10(1 / mse.clamp_min(MIN_MSE))


def psnr(result: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """(B,) PSNR in dB of whole images (torchmetrics), capped at 100 dB (identical images)."""
    return peak_signal_noise_ratio(result, original, data_range=1.0, reduction="none",
                                   dim=(1, 2, 3)).clamp(max=100.0)


def ssim(result: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """(B,) SSIM of whole images (torchmetrics; Gaussian window 11, or the largest odd size
    that fits small images such as 8×8 digits)."""
    side = min(11, min(original.shape[-2:]) - (1 - min(original.shape[-2:]) % 2))
    return structural_similarity_index_measure(result, original, data_range=1.0,
                                               kernel_size=side, reduction="none")


def judged(judge: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
           batch_size: int = 500) -> torch.Tensor:
    """(B,) the judge's class of each image; `judge` maps images to logits."""
    with torch.no_grad():
        return torch.cat([judge(images[i:i + batch_size]).argmax(1)
                          for i in range(0, len(images), batch_size)])


def stroke_mass(x: torch.Tensor) -> torch.Tensor:
    """(B,) the ink: Σ pixels (the zeroth image moment), summed over channels."""
    return x.flatten(1).sum(1)


def slant(x: torch.Tensor) -> torch.Tensor:
    """(B,) the shear of the stroke from second central moments: μ11 / μ02 (x to the right,
    y down; 0 for an upright stroke)."""
    ink = x.sum(1)  # (B, H, W)
    h, w = ink.shape[-2:]
    ys = torch.arange(h, dtype=ink.dtype).view(1, h, 1)
    xs = torch.arange(w, dtype=ink.dtype).view(1, 1, w)
    m = ink.flatten(1).sum(1).clamp_min(1e-8).view(-1, 1, 1)
    cy, cx = (ink * ys).sum((1, 2), keepdim=True) / m, (ink * xs).sum((1, 2), keepdim=True) / m
    mu11 = (ink * (xs - cx) * (ys - cy)).sum((1, 2))
    mu02 = (ink * (ys - cy).pow(2)).sum((1, 2)).clamp_min(1e-8)
    return -mu11 / mu02  # y grows downwards: a stroke leaning right has μ11 < 0


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson's r of two (B,) vectors (nan when either is constant)."""
    a, b = a - a.mean(), b - b.mean()
    denom = (a.pow(2).sum() * b.pow(2).sum()).sqrt()
    return float((a * b).sum() / denom) if denom > 0 else float("nan")
