"""The pieces of the evidence lower bound (Kingma & Welling 2013) and the
importance-weighted bound (Burda et al. 2015). All values are in nats per example."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = μ + σ·ε, ε ~ N(0, I): a sample of q(z|x) that gradients flow through."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ (μ² + σ² − 1 − log σ²).  (B, D) → (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def log_normal_diag(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; μ, diag σ²) summed over the last dim.  (..., D) → (...)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


def log_standard_normal(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dim.  (..., D) → (...)."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(-1)


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log Bernoulli(x; σ(logits)) summed over all but the first dim: (B, ...) → (B,).

    For x in {0, 1} this is a log-probability; for grey values in (0, 1) it is the usual
    cross-entropy objective, which is not a normalised likelihood."""
    ll = -F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return ll.flatten(1).sum(-1)


def gaussian_log_likelihood(
    mean: torch.Tensor, log_std: torch.Tensor, x: torch.Tensor
) -> torch.Tensor:
    """log N(x; mean, diag σ²) with σ = exp(log_std), summed per example: (B, ...) → (B,)."""
    log_std = log_std.expand_as(mean)
    ll = -0.5 * LOG_2PI - log_std - 0.5 * ((x - mean) / log_std.exp()).pow(2)
    return ll.flatten(1).sum(-1)


def iwae_bound(log_weights: torch.Tensor | Iterable[torch.Tensor]) -> torch.Tensor:
    """log (1/K) Σ_k w_k from log w_k = log p(x, z_k) − log q(z_k|x).  (K, B) → (B,).

    Also from the K log-weights in chunks (m_i, B) with Σ m_i = K, accumulated by a running
    logsumexp, so that no (K, B) tensor need exist (the VAE's bounded-memory IWAE test).
    K = 1 gives the ELBO; the bound tightens towards log p(x) as K grows."""
    chunks = [log_weights] if isinstance(log_weights, torch.Tensor) else log_weights
    total, k = None, 0
    for chunk in chunks:
        part = torch.logsumexp(chunk, dim=0)
        total = part if total is None else torch.logaddexp(total, part)
        k += chunk.shape[0]
    if total is None:
        raise ValueError("iwae_bound of no log-weights (K = 0)")
    return total - math.log(k)
