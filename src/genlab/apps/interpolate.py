"""Interpolation between two latents: lerp (a straight line) and slerp (the great circle,
which keeps a Gaussian latent's norm typical; White 2016)."""

from __future__ import annotations

import torch


def lerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """z0, z1: (B, d) → (B, steps, d): (1 − t) z0 + t z1, t in linspace(0, 1, steps)."""
    t = torch.linspace(0, 1, steps).view(1, -1, 1)
    return z0.unsqueeze(1) * (1 - t) + z1.unsqueeze(1) * t


def slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """(B, steps, d): sin((1 − t)Ω)/sin Ω · z0 + sin(tΩ)/sin Ω · z1, Ω the angle between
    them (lerp where they are parallel)."""
    t = torch.linspace(0, 1, steps).view(1, -1, 1)
    cos = torch.nn.functional.cosine_similarity(z0, z1, dim=1).clamp(-1, 1).view(-1, 1, 1)
    omega = torch.arccos(cos)
    sin = torch.sin(omega)
    parallel = sin.abs() < 1e-6
    safe = torch.where(parallel, torch.ones_like(sin), sin)
    w0 = torch.where(parallel, 1 - t, torch.sin((1 - t) * omega) / safe)
    w1 = torch.where(parallel, t, torch.sin(t * omega) / safe)
    return z0.unsqueeze(1) * w0 + z1.unsqueeze(1) * w1
