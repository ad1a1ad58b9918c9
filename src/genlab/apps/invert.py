"""Inversion: real images → latents. A VAE starts from its encoder's mean μ(x) (refined by
`fit.steps` gradient steps when steps > 0); a GAN optimises z from `fit.restarts` draws of
the prior (Adam on z, the best restart kept per image). The loss is the pixel loss
‖G(z) − x‖_p^p, λ × the prior loss and, optionally, μ × a loss in the judge's features."""

from __future__ import annotations

from collections.abc import Callable

import torch

from genlab.apps.latent import LatentModel
from genlab.apps.optimise import Fit, best_of_restarts, initial_latents


def invert(lm: LatentModel, x: torch.Tensor, labels: torch.Tensor | None, fit: Fit,
           generator: torch.Generator,
           features: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """x: (B, C, H, W) in [0, 1] → z: (B, latent_dim)."""
    if lm.can_encode and fit.steps == 0:
        with torch.no_grad():
            return lm.encode_mean(x)
    restarts = 1 if lm.can_encode else fit.restarts  # the encoder's guess is the start
    z0 = initial_latents(lm, x, restarts, generator)
    weights = torch.ones(1, 1, *x.shape[2:], dtype=x.dtype)  # every pixel is known
    return best_of_restarts(lm, x, weights, labels, fit, z0, features)


def reconstruct(lm: LatentModel, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """G(z) in [0, 1], no gradients."""
    with torch.no_grad():
        return lm.decode(z, labels).clamp(0, 1)
