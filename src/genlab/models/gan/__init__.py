"""Generative adversarial networks: the game (objective.py), the LightningModule
(module.py) and its players under DDP (ranks.py). `genlab.models.gan.GAN` is the
`_target_` every GAN config names."""

from genlab.models.gan.module import GAN
from genlab.models.gan.objective import (
    GENERATOR_LOSSES,
    discriminator_loss,
    minimax_generator_loss,
    non_saturating_generator_loss,
    r1_penalty,
)
from genlab.models.gan.ranks import average_gradients

__all__ = ["GAN", "GENERATOR_LOSSES", "average_gradients", "discriminator_loss",
           "minimax_generator_loss", "non_saturating_generator_loss", "r1_penalty"]
