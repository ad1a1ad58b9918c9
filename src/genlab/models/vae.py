"""Variational auto-encoder (Kingma & Welling 2013).

    ELBO(x) = E_q(z|x)[log p(x|z)] − KL(q(z|x) ‖ p(z)),  q = N(μ, diag σ²), p = N(0, I)

Logged in nats per example: `*/elbo` (a lower bound on log p(x), higher is better),
`*/recon` = E_q[log p(x|z)] (one sample), `*/kl`; at test `test/nll_iwae` = −log p̂(x) from
the importance-weighted bound with K samples (Burda et al. 2015). What p(x|z) is:
  - bernoulli, binarize=true: x̃ ~ Bernoulli(x) (dynamic at train, a fixed draw at val/test);
    the ELBO bounds the log-probability of the binary x̃.
  - bernoulli, binarize=false: the cross-entropy on grey values; not a normalised
    likelihood, so the "ELBO" is an objective, not a bound on a probability.
  - gaussian: N(x; decoder(z), σ²) with σ fixed (gaussian_std) or learned per pixel
    (learn_std=true); the ELBO bounds the log-density of x (may be positive).

min_std, the floor of σ in pixel units: σ = min_std + exp(log_std), so a learned σ cannot
shrink to 0 on pixels that never vary (digits' border is always 0), where the density, and
with it the ELBO, would grow without bound. Each pixel then contributes at most
−log min_std − ½ log 2π nats, and the ELBO is at most D times that. The default
1/(255 √(2π)) ≈ 0.00156 makes that ceiling log 255 ≈ 5.54 nats per pixel: the density of a
discrete model that puts all its probability on the pixel's 8-bit level (width 1/255), so
no pixel claims more than any model of 8-bit images could. It is far below the σ of
pixels that vary (≥ 0.05 on digits after 30 epochs), so it binds only on nearly
constant ones. min_std=0 is the unfloored density.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated

import lightning as L
import torch
from torch import nn

from genlab.config.choices import LIKELIHOODS
from genlab.config.instantiate import instantiate
from genlab.config.keys import Key, check
from genlab.errors import ParameterError
from genlab.metrics.elbo import (
    bernoulli_log_likelihood,
    gaussian_log_likelihood,
    iwae_bound,
    kl_divergence,
    log_normal_diag,
    log_standard_normal,
    reparameterize,
)
from genlab.models.eval_noise import binarisation_generator, evaluation_noise
from genlab.models.optim import build_optimizer, build_scheduler
from genlab.models.step_logging import logs_this_step
from genlab.models.step_progress import step_progress

# the default floor of σ: a peak density of 255 per pixel, i.e. at most log 255 nats, what a
# discrete model of 8-bit pixels reaches with all its probability on one level
MIN_STD = 1 / (255 * math.sqrt(2 * math.pi))


class VAE(L.LightningModule):
    def __init__(
        self,
        data_shape: Sequence[int],
        encoder: Annotated[dict, Key("the encoder net's node: model/encoder=mlp | conv")],
        decoder: Annotated[dict, Key("the decoder net's node: model/decoder=mlp | conv")],
        optimizer: Annotated[dict, Key("a _partial_ torch optimizer: model/optimizer=...")],
        latent_dim: Annotated[int, Key("size of the latent z", min=1)] = 16,
        likelihood: Annotated[str, Key("p(x|z): bernoulli | gaussian (module docstring)",
                                       choices=LIKELIHOODS)] = "bernoulli",
        binarize: Annotated[bool, Key("bernoulli only: dynamic binarisation (a fixed draw "
                                      "at val/test)")] = True,
        gaussian_std: Annotated[float, Key("gaussian only: σ of p(x|z) (the initial value "
                                           "if learn_std)", min=1e-12)] = 0.1,
        learn_std: Annotated[bool, Key("gaussian only: learn σ per pixel")] = False,
        min_std: Annotated[float, Key("gaussian only: floor of σ in pixel units, σ = min_std "
                                      "+ exp(log_std); the default 1/(255·√(2π)) caps each "
                                      "pixel's log-density at log 255; 0 = no floor",
                                      min=0)] = MIN_STD,
        beta: Annotated[float, Key("weight of the KL term in the training loss (the ELBO is "
                                   "logged with 1)", min=0)] = 1.0,
        kl_warmup_steps: Annotated[int, Key("linear KL warm-up from 0 to beta over this many "
                                            "steps", min=0)] = 0,
        iwae_samples: Annotated[int, Key("K of the importance-weighted bound at test (0 = "
                                         "skip)", min=0)] = 1000,
        iwae_batch: Annotated[int, Key("memory budget: decoder inputs per forward in the "
                                       "IWAE test", min=1)] = 2048,
        iwae_chunk: Annotated[int | None, Key("optional cap on samples per forward (null: "
                                              "iwae_batch decides)", min=1)] = None,
        scheduler: Annotated[dict | None, Key("a _partial_ lr scheduler: model/scheduler="
                                              "cosine | plateau (null: none)")] = None,
        num_classes: int = 0,
        name: Annotated[str, Key("the model's name in run names")] = "vae",
    ) -> None:
        super().__init__()
        check("genlab.models.vae.VAE", locals())  # what the schema checks before a run
        if not 0 <= min_std < gaussian_std:
            raise ParameterError("min_std", min_std,
                                 f"a value in [0, gaussian_std = {gaussian_std})")
        self.save_hyperparameters(logger=False)  # the flat run config is logged instead
        self.data_shape = tuple(data_shape)
        self.conditional, self.num_classes = False, num_classes  # models/generative.py
        self.encoder = instantiate(encoder, "encoder", in_shape=self.data_shape,
                                   out_dim=2 * latent_dim)
        self.decoder = instantiate(decoder, "decoder", latent_dim=latent_dim,
                                   out_shape=self.data_shape)
        # log(σ − min_std): σ = min_std + exp(log_std) starts at gaussian_std
        log_std = torch.full(self.data_shape, math.log(gaussian_std - min_std))
        self.log_std = nn.Parameter(log_std, requires_grad=learn_std)

    # --- the model -------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, *data_shape) in [0, 1] → μ, log σ²: (B, latent_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, latent_dim) → the mean of p(x|z): (B, *data_shape) in [0, 1]."""
        out = self.decoder(z)
        return out.sigmoid() if self.hparams.likelihood == "bernoulli" else out.clamp(0, 1)

    def log_likelihood(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) from the decoder output: (B, ...) → (B,) nats."""
        if self.hparams.likelihood == "bernoulli":
            return bernoulli_log_likelihood(out, x)
        return gaussian_log_likelihood(out, self.std().log(), x)

    def std(self) -> torch.Tensor:
        """σ of the Gaussian p(x|z) per pixel, (*data_shape): min_std + exp(log_std)."""
        return self.hparams.min_std + self.log_std.exp()

    def elbo_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One-sample ELBO pieces per example (B,): recon, kl, elbo."""
        mu, logvar = self.encode(x)
        recon = self.log_likelihood(self.decoder(reparameterize(mu, logvar)), x)
        kl = kl_divergence(mu, logvar)
        return {"recon": recon, "kl": kl, "elbo": recon - kl}

    @torch.inference_mode()
    def sample(self, n: int, labels: torch.Tensor | None = None) -> torch.Tensor:
        """n samples from the prior, decoded to their mean: (n, *data_shape) in [0, 1]
        (unconditional: `labels` is None)."""
        z = torch.randn(n, self.hparams.latent_dim, device=self.device)
        return self.decode(z)

    @torch.inference_mode()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Decode the posterior mean: (B, *data_shape) → (B, *data_shape) in [0, 1]."""
        return self.decode(self.encode(x)[0])

    # --- data -------------------------------------------------------------------------------
    def _observed(self, x: torch.Tensor, stage: str, batch_idx: int) -> torch.Tensor:
        if not (self.hparams.likelihood == "bernoulli" and self.hparams.binarize):
            return x
        if stage == "train":
            return torch.bernoulli(x)
        # a fixed binarisation of each evaluation batch, the same in every epoch and run
        gen = binarisation_generator(x.device, batch_idx)
        return (torch.rand(x.shape, generator=gen, device=x.device) < x).to(x.dtype)

    def kl_weight(self) -> float:
        """β times the linear KL warm-up factor (the reported ELBO always uses weight 1)."""
        warmup = self.hparams.kl_warmup_steps
        ramp = min(1.0, self.global_step / warmup) if warmup > 0 else 1.0
        return self.hparams.beta * ramp

    # --- Lightning ------------------------------------------------------------------------
    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        x = self._observed(batch[0], "train", batch_idx)
        t = self.elbo_terms(x)
        loss = -(t["recon"] - self.kl_weight() * t["kl"]).mean()
        if logs_this_step(self):
            values = {f"train/{k}": v.mean() for k, v in t.items()}
            self.log_dict({**values, "train/loss": loss}, on_step=True, on_epoch=False,
                          batch_size=len(x))
        return loss

    def _eval_step(self, batch, batch_idx: int, stage: str) -> torch.Tensor:
        x = self._observed(batch[0], stage, batch_idx)
        t = self.elbo_terms(x)
        self.log_dict(
            {f"{stage}/{k}": v.mean() for k, v in t.items()}, on_epoch=True, sync_dist=True,
            batch_size=len(x),
        )
        return x

    def validation_step(self, batch, batch_idx: int) -> None:
        with self._eval_noise(batch_idx, "val"):
            self._eval_step(batch, batch_idx, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        with self._eval_noise(batch_idx, "test"):
            x = self._eval_step(batch, batch_idx, "test")
            if (k := self.hparams.iwae_samples) > 0:
                # minutes for a large batch: a line with an ETA below Lightning's bar
                with step_progress(self, f"IWAE bound, K={k}", self.iwae_forwards(len(x), k)
                                   ) as advance:
                    nll = -self.iwae_log_likelihood(x, k, advance)
                self.log("test/nll_iwae", nll.mean(), on_epoch=True, sync_dist=True,
                         batch_size=len(x))

    def _eval_noise(self, batch_idx: int, stage: str):
        """The evaluation batch's posterior noise, seeded (models/eval_noise.py)."""
        return evaluation_noise(self.device, stage, batch_idx)

    @torch.inference_mode()
    def iwae_log_likelihood(self, x: torch.Tensor, k: int,
                            advance: Callable[[], None] = lambda: None) -> torch.Tensor:
        """The K-sample importance-weighted bound on log p(x), per example (B,) in nats.

        Memory is bounded by `iwae_batch`, the number of decoder inputs per forward, not by
        K or the batch: examples are taken in slices of at most `iwae_batch`, each slice's
        K samples in chunks of m = iwae_batch // slice (at most `iwae_chunk` when set), and
        log Σ_k w_k is accumulated chunk by chunk (a running logsumexp), so no (K, B)
        tensor of decoder outputs ever exists. `advance()` is called after each decoder
        forward (`iwae_forwards` of them)."""
        budget = self.hparams.iwae_batch
        out = [self._iwae_slice(part, k, advance) for part in x.split(budget)]
        return torch.cat(out)

    def iwae_forwards(self, batch: int, k: int) -> int:
        """How many decoder forwards `iwae_log_likelihood` makes for `batch` examples."""
        budget = self.hparams.iwae_batch  # the slices of x.split(budget)
        sizes = [min(budget, batch - start) for start in range(0, batch, budget)]
        return sum(math.ceil(k / self._iwae_chunk(n)) for n in sizes)

    def _iwae_chunk(self, n: int) -> int:
        """Samples per forward for a slice of `n` examples: within the iwae_batch budget."""
        m_max = max(1, self.hparams.iwae_batch // n)
        return min(m_max, self.hparams.iwae_chunk) if self.hparams.iwae_chunk else m_max

    def _iwae_slice(self, x: torch.Tensor, k: int, advance: Callable[[], None]) -> torch.Tensor:
        """The IWAE bound of one slice: its K log-weights in chunks of at most m_max
        samples, each made by one decoder forward, reduced as they come (iwae_bound)."""
        mu, logvar = self.encode(x)
        m_max = self._iwae_chunk(len(x))

        def log_weight_chunks() -> Iterator[torch.Tensor]:
            for start in range(0, k, m_max):
                m = min(m_max, k - start)
                z = reparameterize(mu.expand(m, *mu.shape), logvar.expand(m, *logvar.shape))
                dec = self.decoder(z.flatten(0, 1))
                flat_x = x.expand(m, *x.shape).flatten(0, 1)
                log_px = self.log_likelihood(dec, flat_x).view(m, -1)
                yield log_px + log_standard_normal(z) - log_normal_diag(z, mu, logvar)
                advance()

        return iwae_bound(log_weight_chunks())

    def configure_optimizers(self):
        opt = build_optimizer(self.parameters(), self.hparams.optimizer)
        sched = build_scheduler(opt, self.hparams.scheduler)
        return opt if sched is None else {"optimizer": opt, "lr_scheduler": sched}

