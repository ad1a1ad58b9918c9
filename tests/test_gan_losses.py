"""The GAN objectives on hand-made logits, and one optimiser step of each player."""

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from genlab.models.gan import (
    GAN,
    discriminator_loss,
    minimax_generator_loss,
    non_saturating_generator_loss,
)

LOGITS_REAL = torch.tensor([2.0, -1.0, 0.5])
LOGITS_FAKE = torch.tensor([-3.0, 0.0, 1.5])


def test_discriminator_loss_is_minus_the_value_function() -> None:
    d_real, d_fake = torch.sigmoid(LOGITS_REAL), torch.sigmoid(LOGITS_FAKE)
    value = torch.log(d_real).mean() + torch.log(1 - d_fake).mean()
    assert torch.allclose(discriminator_loss(LOGITS_REAL, LOGITS_FAKE), -value)


def test_one_sided_label_smoothing_only_touches_real_targets() -> None:
    d_real, d_fake = torch.sigmoid(LOGITS_REAL), torch.sigmoid(LOGITS_FAKE)
    expected = -(0.9 * torch.log(d_real) + 0.1 * torch.log(1 - d_real)).mean() \
        - torch.log(1 - d_fake).mean()
    assert torch.allclose(discriminator_loss(LOGITS_REAL, LOGITS_FAKE, 0.9), expected)


def test_generator_losses() -> None:
    d_fake = torch.sigmoid(LOGITS_FAKE)
    assert torch.allclose(minimax_generator_loss(LOGITS_FAKE), torch.log(1 - d_fake).mean())
    assert torch.allclose(non_saturating_generator_loss(LOGITS_FAKE), -torch.log(d_fake).mean())


def test_losses_stay_finite_for_saturated_logits() -> None:
    big = torch.tensor([-200.0, 200.0])
    for loss in (discriminator_loss(big, big), minimax_generator_loss(big),
                 non_saturating_generator_loss(big)):
        assert torch.isfinite(loss)


def toy_gan(objective: str = "non_saturating", lr_g: float = 1e-2, lr_d: float = 1e-2,
            d_steps: int = 1) -> GAN:
    adam = {"_target_": "torch.optim.Adam", "_partial_": True}
    return GAN(
        [2], {"_target_": "genlab.nets.toy.MLPGenerator", "hidden_dims": [16]},
        {"_target_": "genlab.nets.toy.MLPDiscriminator", "hidden_dims": [16]},
        {**adam, "lr": lr_g}, {**adam, "lr": lr_d}, latent_dim=2, objective=objective,
        d_steps=d_steps,
    )


def fit_one_batch(model: GAN, x: torch.Tensor, z: torch.Tensor) -> None:
    """One training_step on the batch x, with the generator's noise fixed to z."""
    model._noise = lambda n: z[:n]
    loader = DataLoader(TensorDataset(x, torch.full((len(x),), -1)), batch_size=len(x))
    trainer = L.Trainer(max_epochs=1, limit_train_batches=1, limit_val_batches=0, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu")
    trainer.fit(model, train_dataloaders=loader)


def d_value(model: GAN, x: torch.Tensor, z: torch.Tensor) -> float:
    with torch.no_grad():
        return -float(discriminator_loss(model.discriminator(x),
                                         model.discriminator(model.generator(z))))


def test_one_discriminator_step_raises_its_objective() -> None:
    torch.manual_seed(0)
    model = toy_gan(d_steps=2)  # the first batch makes a D step only
    x, z = torch.randn(64, 2) + 3.0, torch.randn(64, 2)
    before, g_before = d_value(model, x, z), [p.clone() for p in model.generator.parameters()]
    fit_one_batch(model, x, z)
    assert d_value(model, x, z) > before
    assert all(torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters(),
                                                 strict=True))


@pytest.mark.parametrize("objective", ["minimax", "non_saturating"])
def test_one_generator_step_lowers_its_loss(objective: str) -> None:
    torch.manual_seed(0)
    model = toy_gan(objective, lr_d=1e-12)  # D (practically) frozen: G's step alone counts
    x, z = torch.randn(64, 2) + 3.0, torch.randn(64, 2)
    loss = {"minimax": minimax_generator_loss,
            "non_saturating": non_saturating_generator_loss}[objective]

    def g_loss() -> float:
        with torch.no_grad():
            return float(loss(model.discriminator(model.generator(z))))

    before = g_loss()
    fit_one_batch(model, x, z)
    assert g_loss() < before


def test_optimizers_come_in_generator_discriminator_order() -> None:
    model = toy_gan()
    opt_g, opt_d = model.configure_optimizers()
    assert opt_g.param_groups[0]["params"][0] is next(model.generator.parameters())
    assert opt_d.param_groups[0]["params"][0] is next(model.discriminator.parameters())
