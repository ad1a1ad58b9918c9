"""A generative model seen as a differentiable map z → x, with a prior loss on z.

genlab's public `generate`/`sample` run without gradients, so the apps build the map from the
models' public parts: a VAE's `decode` (and `encode` for a first guess), a GAN's generator
(the EMA when there is one, as `generate` uses) and `to_data`, and its discriminator for
Yeh et al.'s prior loss. Any model with `decode(z)` and `hparams.latent_dim` (a Gaussian
prior) is served the VAE way: the tests use a linear-Gaussian one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from genlab.config.schema import LATENT_PRIORS


@dataclass
class LatentModel:
    """x: (B, C, H, W) in [0, 1]; z: (B, latent_dim); labels: (B,) long or None."""

    model: Any

    @property
    def latent_dim(self) -> int:
        return int(self.model.hparams.latent_dim)

    @property
    def is_gan(self) -> bool:
        return hasattr(self.model, "discriminator") and hasattr(self.model, "to_data")

    @property
    def conditional(self) -> bool:
        return bool(getattr(self.model, "conditional", False))

    @property
    def can_encode(self) -> bool:
        return hasattr(self.model, "encode") and not self.is_gan

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """G(z[, y]) in [0, 1], differentiable in z."""
        if not self.is_gan:
            return self.model.decode(z)
        ema = getattr(self.model, "generator_ema", None)
        net = ema.module if ema is not None else self.model.generator
        out = net(z, labels) if self.conditional else net(z)
        return (out + 1) / 2  # to_data without its clamp: tanh output is in [−1, 1] already

    def encode_mean(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's mean μ(x): (B, latent_dim) (VAE only)."""
        return self.model.encode(x)[0]

    def prior_loss(self, z: torch.Tensor, x: torch.Tensor,
                   labels: torch.Tensor | None = None, kind: str = "model") -> torch.Tensor:
        """(B,) per image. kind "model": the model's own — VAE: −log p(z) = ½‖z‖² (+ const);
        GAN: the generator's loss through D on x = G(z) (Yeh et al.'s log(1 − D(G(z))) for
        the minimax objective, −log D(G(z)) for the non-saturating one). kind "gaussian":
        −log N(z; 0, I) = ½‖z‖² (+ const) for every model: it keeps a GAN's ẑ where its
        generator was trained (z ~ N(0, I)), which D's loss does not."""
        if kind not in LATENT_PRIORS:
            raise ValueError(f"prior kind {kind!r}: allowed {' | '.join(LATENT_PRIORS)}")
        if not self.is_gan or kind == "gaussian":
            return 0.5 * z.pow(2).sum(1)
        logits = self._d_logits(x, labels)
        if self.model.hparams.objective == "minimax":
            return F.logsigmoid(-logits)  # log(1 − D(G(z)))
        return -F.logsigmoid(logits)  # −log D(G(z))

    def _d_logits(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        xm = x * 2 - 1  # the GAN's to_model
        if self.conditional:
            return self.model.discriminator(xm, labels).view(-1)
        m = int(self.model.hparams.pack)  # PacGAN: a pack of m copies of each image
        packed = xm.repeat_interleave(m, dim=0)
        return self.model.discriminator(packed.reshape(len(x), m * x.shape[1], *x.shape[2:])
                                        ).view(-1)

    def frozen(self) -> LatentModel:
        """The model's weights out of autograd (only z is optimised), in eval mode."""
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        return self
