"""Latent vector arithmetic (Radford et al. 2015, §6): concept vectors are the means of the
inverted latents of k exemplars; result = z(source) − mean(z_A) + mean(z_B). On labelled data
the concepts are classes ("turn this 3 into a 7 and keep its handwriting"). Baselines: the
same arithmetic on pixels, a random latent direction of the same norm, and k = 1."""

from __future__ import annotations

import torch


def exemplar_indices(pool_labels: torch.Tensor, classes: torch.Tensor, k: int,
                     generator: torch.Generator) -> torch.Tensor:
    """(B, k) indices into the pool: for each class c in `classes` (B,), k pool members of
    class c drawn without replacement (fewer members: all of them, repeated to k)."""
    rows = []
    for c in classes.tolist():
        members = (pool_labels == c).nonzero().view(-1)
        pick = members[torch.randperm(len(members), generator=generator)[:k]]
        rows.append(pick.repeat(-(-k // max(len(pick), 1)))[:k])
    return torch.stack(rows)


def concept_mean(pool: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """pool (N, ...), indices (B, k) → (B, ...): the mean of each row's exemplars."""
    return pool[indices].mean(1)


def concept_shift(source: torch.Tensor, mean_a: torch.Tensor, mean_b: torch.Tensor) -> torch.Tensor:
    """source − mean(A) + mean(B), in latent or pixel space alike."""
    return source - mean_a + mean_b


def random_direction(shift: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A random direction per row with the norm of each row of `shift` (B, d)."""
    r = torch.randn(shift.shape, generator=generator)
    return r / r.norm(dim=1, keepdim=True) * shift.norm(dim=1, keepdim=True)


def other_classes(labels: torch.Tensor, num_classes: int, generator: torch.Generator,
                  target: int | None = None) -> torch.Tensor:
    """(B,) the class to turn each source into: `target` for all where given (the caller
    drops sources already of that class), else one of the other classes, uniformly."""
    if target is not None:
        return torch.full_like(labels, target)
    offset = torch.randint(1, num_classes, labels.shape, generator=generator)
    return (labels + offset) % num_classes
