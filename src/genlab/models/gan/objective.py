"""The GAN game of Goodfellow et al. (2014), as pure functions of D's logits.

    V(D, G) = E_x[log D(x)] + E_z[log(1 − D(G(z)))],   D = σ(logit)
    min_G max_D V(D, G)

    D*(x) = p_data(x) / (p_data(x) + p_g(x))          the best D for a fixed G
    V(D*, G) = −log 4 + 2·JSD(p_data ‖ p_g)             so D*(x) = ½ and V = −log 4 at p_g = p_data

D ascends V (`discriminator_loss` = −V). G descends, by `objective`:
  - minimax:        E[log(1 − D(G(z)))]   (saturates while D wins easily)
  - non_saturating: −E[log D(G(z))]       (the heuristic of the same paper)
Both from logits: log σ(l) = logsigmoid(l), log(1 − σ(l)) = logsigmoid(−l). The JSD
identity gives the diagnostic lower bound (genlab/metrics/jsd.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                       real_target: float = 1.0) -> torch.Tensor:
    """−V(D, G) = −E[log D(x)] − E[log(1 − D(G(z)))]; `real_target` < 1 is one-sided label
    smoothing (Salimans et al. 2016): D is trained towards it on real data only."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits,
                                                                           real_target))
    return real + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def minimax_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """E[log(1 − D(G(z)))], which G minimises."""
    return F.logsigmoid(-fake_logits).mean()


def non_saturating_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """−E[log D(G(z))], which G minimises."""
    return -F.logsigmoid(fake_logits).mean()


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """E‖∇_x logit(x)‖² over D's real inputs (Mescheder et al. 2018; a pack counts as one
    input); `real` must require grad. Differentiable (create_graph), so D's step descends
    it; D's loss adds γ/2 times this."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    return grad.pow(2).sum() / len(real_logits)


GENERATOR_LOSSES = {"minimax": minimax_generator_loss,
                    "non_saturating": non_saturating_generator_loss}
