"""Mode coverage of a generator on a Gaussian mixture with known centres (VEEGAN, PacGAN).

The exact rules, for N generated samples and K modes with centres μ_k and common std σ:
- each sample is assigned to its nearest centre (Euclidean distance);
- a sample is *high quality* when that distance is at most 3σ;
- `hq_ratio` = (number of high-quality samples) / N; samples from the data itself score
  1 − exp(−9/2) ≈ 0.989 in 2-D (the 3σ disc holds that share of a 2-D Gaussian);
- `modes` = number of modes that receive at least `min_hq` (default 1) high-quality
  samples;
- `reverse_kl` = KL(p_gen ‖ p_real) in nats between the histograms over modes of the
  nearest-centre assignments of *all* generated samples (p_gen) and of real samples
  (p_real); bins with p_gen = 0 contribute 0, p_real is clamped at 1e-12. 0 when the
  generator spreads its mass over the modes as the data does; log K when it puts all of it
  on one mode of a uniform mixture.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric


def nearest_mode(points: torch.Tensor, centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """points: (N, D), centers: (K, D) → index (N,) of the nearest centre and distance (N,)."""
    dist, index = torch.cdist(points.float(), centers.float()).min(dim=1)
    return index, dist


class ModeCoverage(Metric):
    """Accumulates mode histograms over batches (summed across ranks); `compute()` →
    {"modes", "hq_ratio", "reverse_kl"}. `update(fake, real)`: (B, D) points each."""

    full_state_update = False

    def __init__(self, centers: torch.Tensor, std: float, min_hq: int = 1) -> None:
        super().__init__()
        self.register_buffer("centers", centers.float(), persistent=False)
        self.std, self.min_hq = std, min_hq
        k = len(centers)
        for name in ("fake_counts", "fake_hq_counts", "real_counts"):
            self.add_state(name, default=torch.zeros(k), dist_reduce_fx="sum")

    def update(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> None:
        k = len(self.centers)
        index, dist = nearest_mode(fake, self.centers)
        self.fake_counts += torch.bincount(index, minlength=k).float()
        self.fake_hq_counts += torch.bincount(index[dist <= 3 * self.std], minlength=k).float()
        if real is not None:
            self.real_counts += torch.bincount(nearest_mode(real, self.centers)[0],
                                               minlength=k).float()

    def compute(self) -> dict[str, torch.Tensor]:
        n = self.fake_counts.sum().clamp_min(1)
        p_fake = self.fake_counts / n
        p_real = (self.real_counts / self.real_counts.sum().clamp_min(1)).clamp_min(1e-12)
        kl = torch.where(p_fake > 0, p_fake * (p_fake / p_real).log(), torch.zeros_like(p_fake))
        return {
            "modes": (self.fake_hq_counts >= self.min_hq).sum().float(),
            "hq_ratio": self.fake_hq_counts.sum() / n,
            "reverse_kl": kl.sum(),
        }


def mode_coverage(fake: torch.Tensor, real: torch.Tensor, centers: torch.Tensor,
                  std: float, min_hq: int = 1) -> dict[str, float]:
    """The metrics above for one set of generated and real points (N, D)."""
    metric = ModeCoverage(centers, std, min_hq)
    metric.update(fake, real)
    return {k: float(v) for k, v in metric.compute().items()}
