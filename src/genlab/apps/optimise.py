"""Latent optimisation shared by inversion and completion: find z per image minimising

    L(z) = Σ_i W_i |G(z)_i − y_i|^p  +  λ · prior(z)  [+ μ · ‖f(G(z)) − f(y)‖²]

(Yeh et al. 2017, eq. 2–4: a weighted contextual loss on the known pixels plus λ times a
prior loss; inversion is W = 1). Adam on z, its step size annealed to zero (cosine) so that
a convex problem ends at its minimum; several restarts, the lowest loss kept per image.
Each image's loss depends on its own z only, so a batch optimises its images independently
(Adam is element-wise): batching changes the speed, not the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from genlab.apps.latent import LatentModel


@dataclass(frozen=True)
class Fit:
    """Settings of one latent optimisation (units: Adam steps, its learning rate)."""

    steps: int = 200
    lr: float = 0.05
    restarts: int = 2
    lam: float = 0.0  # λ, the prior loss's weight
    prior: str = "model"  # which prior loss: "model" (VAE ½‖z‖², GAN D's) | "gaussian" (½‖z‖²)
    norm: int = 1  # p of the contextual loss (Yeh et al.: 1)
    feature_weight: float = 0.0  # μ, a loss in the judge's feature space (0: off)


def objective(lm: LatentModel, z: torch.Tensor, target: torch.Tensor, weights: torch.Tensor,
              labels: torch.Tensor | None, fit: Fit,
              features: Callable[[torch.Tensor], torch.Tensor] | None = None,
              target_features: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image loss (B,) of z (B, d) against target (B, C, H, W) with weights (B|1, 1|C, H, W)."""
    x = lm.decode(z, labels)
    contextual = (weights * (x - target).abs().pow(fit.norm)).flatten(1).sum(1)
    loss = contextual + fit.lam * lm.prior_loss(z, x, labels, fit.prior) if fit.lam else contextual
    if fit.feature_weight and features is not None:
        loss = loss + fit.feature_weight * (features(x) - target_features).pow(2).sum(1)
    return loss


def optimise(lm: LatentModel, z0: torch.Tensor, target: torch.Tensor, weights: torch.Tensor,
             labels: torch.Tensor | None, fit: Fit,
             features: Callable[[torch.Tensor], torch.Tensor] | None = None,
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Adam from z0 (B, d) → (z (B, d), its final per-image loss (B,))."""
    z = z0.detach().clone().requires_grad_(True)
    target_features = None
    if fit.feature_weight and features is not None:
        with torch.no_grad():
            target_features = features(target)
    opt = torch.optim.Adam([z], lr=fit.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(fit.steps, 1))
    for _ in range(fit.steps):
        opt.zero_grad(set_to_none=True)
        objective(lm, z, target, weights, labels, fit, features, target_features).sum().backward()
        opt.step()
        schedule.step()
    with torch.no_grad():
        loss = objective(lm, z, target, weights, labels, fit, features, target_features)
    return z.detach(), loss


def initial_latents(lm: LatentModel, guess: torch.Tensor, restarts: int,
                    generator: torch.Generator) -> torch.Tensor:
    """(restarts, B, d): the encoder's mean of `guess` first where the model has an encoder,
    then draws from the prior N(0, I)."""
    b = len(guess)
    z = torch.randn(restarts, b, lm.latent_dim, generator=generator).to(guess.dtype)
    if lm.can_encode:
        with torch.no_grad():
            z[0] = lm.encode_mean(guess)
    return z


def best_of_restarts(lm: LatentModel, target: torch.Tensor, weights: torch.Tensor,
                     labels: torch.Tensor | None, fit: Fit, z0: torch.Tensor,
                     features: Callable[[torch.Tensor], torch.Tensor] | None = None,
                     ) -> torch.Tensor:
    """z0: (R, B, d) starts → the z (B, d) of the restart with the lowest loss per image."""
    r, b, d = z0.shape

    def tile(t: torch.Tensor | None) -> torch.Tensor | None:
        if t is None or len(t) != b:  # a mask shared by the batch stays shared
            return t
        return t.repeat(r, *([1] * (t.dim() - 1)))

    z, loss = optimise(lm, z0.reshape(r * b, d), tile(target), tile(weights), tile(labels), fit,
                       features)
    best = loss.view(r, b).argmin(0)
    return z.view(r, b, d)[best, torch.arange(b)]
