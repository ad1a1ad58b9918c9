"""Generative adversarial networks (Goodfellow et al. 2014), optionally class-conditional
(Mirza & Osindero 2014).

    V(D, G) = E_x[log D(x)] + E_z[log(1 − D(G(z)))],   D = σ(logit)

D ascends V; G, by `objective`:
  - minimax:        G minimises E[log(1 − D(G(z)))]  (saturates while D wins easily)
  - non_saturating: G maximises E[log D(G(z))]       (the heuristic of the same paper)
Both are computed from logits (log σ(l) = logsigmoid(l), log(1 − σ(l)) = logsigmoid(−l)).

Manual optimisation: every training batch makes one D step; every `d_steps`-th batch also
makes one G step, so there are `d_steps` D steps (each on a fresh real batch) per G step.
`self.optimizers()` returns (opt_g, opt_d), in that order. One-sided label smoothing
(Salimans et al. 2016) trains D towards `1 − label_smoothing` on real data only.
`pack` = m > 1 is PacGAN (Lin et al. 2018): D judges m samples at once, all real or all
generated, concatenated along the channel/feature axis (a batch of B gives B // m logits),
which penalises a generator that lacks diversity; unconditional models only.

Images are mapped from the data's [0, 1] to [−1, 1] inside the model (G ends in tanh);
`sample` and `generate` return data-space values again. Vector data (2-D toy points) is
used as is. On data with `mode_centers` (genlab.data.toy2d) validation and test also log
the mode-coverage metrics of genlab.metrics.mode_coverage on as many generated samples as
the split has points (2,500 by default).
"""

from __future__ import annotations

from collections.abc import Sequence

import lightning as L
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from torch import nn

from genlab.errors import ConfigError
from genlab.metrics.mode_coverage import ModeCoverage
from genlab.models.optim import build_optimizer
from genlab.models.step_logging import logs_this_step
from genlab.nets.conditioning import (
    ConcatDiscriminator,
    ConditionalGenerator,
    ProjectionDiscriminator,
)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                       real_target: float = 1.0) -> torch.Tensor:
    """−V(D, G) = −E[log D(x)] − E[log(1 − D(G(z)))] (real_target < 1: smoothed)."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits,
                                                                           real_target))
    return real + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def minimax_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """E[log(1 − D(G(z)))], which G minimises."""
    return F.logsigmoid(-fake_logits).mean()


def non_saturating_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """−E[log D(G(z))], which G minimises."""
    return -F.logsigmoid(fake_logits).mean()


GENERATOR_LOSSES = {"minimax": minimax_generator_loss,
                    "non_saturating": non_saturating_generator_loss}
CONDITIONINGS = ("concat", "projection")


class GAN(L.LightningModule):
    def __init__(
        self,
        data_shape: Sequence[int],
        generator: dict,
        discriminator: dict,
        optimizer_g: dict,
        optimizer_d: dict,
        latent_dim: int = 100,
        objective: str = "non_saturating",
        d_steps: int = 1,
        label_smoothing: float = 0.0,
        conditional: bool = False,
        conditioning: str = "concat",
        embed_dim: int = 10,
        pack: int = 1,
        fixed_noise_size: int = 64,
        fixed_noise_seed: int = 0,
        num_classes: int = 0,
        name: str = "gan",
    ) -> None:
        super().__init__()
        if objective not in GENERATOR_LOSSES:
            raise ConfigError("model.objective", objective, ", ".join(GENERATOR_LOSSES))
        if conditioning not in CONDITIONINGS:
            raise ConfigError("model.conditioning", conditioning, ", ".join(CONDITIONINGS))
        if conditional and num_classes <= 0:
            raise ConfigError(
                "model.conditional", conditional, "false for data without labels",
                "The data module reports num_classes = 0: use labelled data (digits, mnist, "
                "cifar10, ...) or an unconditional model (model=dcgan).",
            )
        if conditional and pack > 1:
            raise ConfigError("model.pack", pack, "1 for conditional models")
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.data_shape = tuple(data_shape)
        self.conditional, self.num_classes = conditional, num_classes
        self.generator, self.discriminator = self._build_nets()
        noise = torch.randn(fixed_noise_size, latent_dim,
                            generator=torch.Generator().manual_seed(fixed_noise_seed))
        self.register_buffer("fixed_noise", noise)
        self.coverage: nn.ModuleDict | None = None

    def _build_nets(self) -> tuple[nn.Module, nn.Module]:
        hp = self.hparams
        if not self.conditional:
            packed = [self.data_shape[0] * hp.pack, *self.data_shape[1:]]
            return (instantiate(hp.generator, latent_dim=hp.latent_dim, out_shape=self.data_shape),
                    instantiate(hp.discriminator, in_shape=packed))
        g = instantiate(hp.generator, latent_dim=hp.latent_dim + hp.embed_dim,
                        out_shape=self.data_shape)
        if hp.conditioning == "projection":
            d = ProjectionDiscriminator(instantiate(hp.discriminator, in_shape=self.data_shape),
                                        self.num_classes)
        else:
            joined = [self.data_shape[0] + hp.embed_dim, *self.data_shape[1:]]
            d = ConcatDiscriminator(instantiate(hp.discriminator, in_shape=joined),
                                    self.num_classes, hp.embed_dim)
        return ConditionalGenerator(g, self.num_classes, hp.embed_dim), d

    # --- data space ↔ model space ------------------------------------------------------------
    @property
    def is_image_model(self) -> bool:
        return len(self.data_shape) == 3

    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] → [−1, 1]; other data unchanged."""
        return x * 2 - 1 if self.is_image_model else x

    def to_data(self, x: torch.Tensor) -> torch.Tensor:
        """The inverse of `to_model` (images clamped to [0, 1])."""
        return ((x + 1) / 2).clamp(0, 1) if self.is_image_model else x

    # --- the two players -------------------------------------------------------------------
    def _g(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return self.generator(z, y) if self.conditional else self.generator(z)

    def _d(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if self.conditional:
            return self.discriminator(x, y)
        m = self.hparams.pack  # PacGAN: (B, C, ...) → (B // m, m·C, ...), a remainder dropped
        x = x[: len(x) - len(x) % m]
        return self.discriminator(x.reshape(len(x) // m, m * x.shape[1], *x.shape[2:]))

    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.hparams.latent_dim, device=self.device)

    def _labels(self, y: torch.Tensor) -> torch.Tensor | None:
        return y if self.conditional else None

    def default_labels(self, n: int) -> torch.Tensor | None:
        """0, 1, …, K−1, 0, 1, … for conditional models; None otherwise."""
        if not self.conditional:
            return None
        return torch.arange(n, device=self.device) % self.num_classes

    @torch.no_grad()
    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """z: (n, latent_dim), labels: (n,) long (conditional only; default: cycling
        through the classes) → samples (n, *data_shape) in data space."""
        if labels is None:
            labels = self.default_labels(len(z))
        return self.to_data(self._g(z.to(self.device), labels))

    def sample(self, n: int, labels: torch.Tensor | None = None) -> torch.Tensor:
        """n samples (n, *data_shape): images in [0, 1], or raw points."""
        return self.generate(self._noise(n), labels)

    @torch.no_grad()
    def discriminator_prob(self, x: torch.Tensor,
                           labels: torch.Tensor | None = None) -> torch.Tensor:
        """D(x) ∈ (0, 1) for data-space x (n, *data_shape) → (n,); with packing, D of a
        pack of m copies of each x."""
        x = self.to_model(x.to(self.device)).repeat_interleave(self.hparams.pack, dim=0)
        return torch.sigmoid(self._d(x, labels))

    # --- Lightning ---------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        dm = self.trainer.datamodule if self._trainer is not None else None
        centers = getattr(dm, "mode_centers", None)
        if centers is not None and self.coverage is None:
            self.coverage = nn.ModuleDict(
                {s: ModeCoverage(centers, dm.mode_std) for s in ("val", "test")})

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        x, y = self.to_model(batch[0]), self._labels(batch[1])
        with self.toggled_optimizer(opt_d):  # D ascends V(D, G)
            with torch.no_grad():
                fake = self._g(self._noise(len(x)), y)
            real_logits, fake_logits = self._d(x, y), self._d(fake, y)
            d_loss = discriminator_loss(real_logits, fake_logits,
                                        1.0 - self.hparams.label_smoothing)
            opt_d.zero_grad()
            self.manual_backward(d_loss)
            opt_d.step()
        logs = {"train/d_loss": d_loss, "train/d_real": torch.sigmoid(real_logits).mean(),
                "train/d_fake": torch.sigmoid(fake_logits).mean()}
        if (batch_idx + 1) % self.hparams.d_steps == 0:
            with self.toggled_optimizer(opt_g):  # G follows its objective
                g_loss = GENERATOR_LOSSES[self.hparams.objective](
                    self._d(self._g(self._noise(len(x)), y), y))
                opt_g.zero_grad()
                self.manual_backward(g_loss)
                opt_g.step()
            logs["train/g_loss"] = g_loss
        if logs_this_step(self):
            self.log_dict({k: v.detach() for k, v in logs.items()}, on_step=True,
                          on_epoch=False, batch_size=len(x))

    def _eval_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> None:
        x, y = batch[0], self._labels(batch[1])
        fake = self._g(self._noise(len(x)), y)
        self.log_dict(
            {f"{stage}/d_real": torch.sigmoid(self._d(self.to_model(x), y)).mean(),
             f"{stage}/d_fake": torch.sigmoid(self._d(fake, y)).mean()},
            on_epoch=True, sync_dist=True, batch_size=len(x),
        )
        if self.coverage is not None:
            self.coverage[stage].update(self.to_data(fake), x)

    def _log_coverage(self, stage: str) -> None:
        if self.coverage is None:
            return
        values = self.coverage[stage].compute()  # already summed across ranks
        self.coverage[stage].reset()
        self.log_dict({f"{stage}/{k}": v for k, v in values.items()})

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._log_coverage("val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._log_coverage("test")

    def configure_optimizers(self):
        """[opt_g, opt_d]: `self.optimizers()` returns them in this order."""
        return [build_optimizer(self.generator.parameters(), self.hparams.optimizer_g),
                build_optimizer(self.discriminator.parameters(), self.hparams.optimizer_d)]
