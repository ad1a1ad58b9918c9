"""Image completion with a generative model (Yeh et al. 2017, "Semantic Image Inpainting
with Deep Generative Models"): ẑ = argmin_z L_c(z | y, M) + λ L_p(z), with the contextual
loss L_c = ‖W ⊙ (G(z) − y)‖₁ weighted by importance_weights (eq. 3–4) and the prior loss
L_p of genlab/apps/latent.py; then the known pixels are kept: x̂ = M ⊙ y + (1 − M) ⊙ G(ẑ).
(The paper blends with Poisson editing; here the known pixels are pasted as they are.)
"""

from __future__ import annotations

import torch

from genlab.apps.latent import LatentModel
from genlab.apps.masks import importance_weights
from genlab.apps.optimise import Fit, best_of_restarts, initial_latents


def masked_input(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The hole filled with 0 (what the model sees, and a reference row in figures)."""
    return x * mask


def paste_known(x: torch.Tensor, mask: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """M ⊙ x + (1 − M) ⊙ fill."""
    return mask * x + (1 - mask) * fill


def complete(lm: LatentModel, x: torch.Tensor, mask: torch.Tensor,
             labels: torch.Tensor | None, fit: Fit, window: int | None,
             generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """x: (B, C, H, W) in [0, 1] (only its known pixels are read), mask (B, 1, H, W) →
    (the completed images, G(ẑ) itself), both (B, C, H, W) in [0, 1]."""
    y = masked_input(x, mask)
    weights = importance_weights(mask, window)
    z0 = initial_latents(lm, y, fit.restarts, generator)
    z = best_of_restarts(lm, y, weights, labels, fit, z0)
    with torch.no_grad():
        generated = lm.decode(z, labels).clamp(0, 1)
    return paste_known(x, mask, generated), generated
