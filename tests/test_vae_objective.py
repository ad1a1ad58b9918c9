"""What the VAE trains and reports (models/vae.py), beyond the ELBO maths of test_elbo.py:
the β / KL warm-up weight of the training loss, the fixed binarisation of evaluation
batches, and a learned Gaussian σ with its floor `min_std`."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from genlab.errors import ParameterError
from genlab.models.vae import VAE
from test_elbo import _vae  # the tiny digits VAE, written once


class _LossProbe(L.Callback):
    """Before each training step, the step's one-sample ELBO terms with the RNG state the
    step will use (so the same z); after it, the loss the step returned."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, torch.Tensor, torch.Tensor, float]] = []
        self._terms = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        state = torch.get_rng_state()
        with torch.no_grad():
            self._terms = pl_module.elbo_terms(batch[0])
        torch.set_rng_state(state)
        self._step = trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        t = self._terms
        self.rows.append((self._step, t["recon"], t["kl"], float(outputs["loss"])))


def test_training_loss_weights_the_kl_by_beta_times_a_linear_warmup(tmp_path: Path) -> None:
    """loss = −mean(recon − w·kl) with w = β · min(1, global_step / kl_warmup_steps): 0 at
    the first step, β from step kl_warmup_steps on; the reported val/elbo is recon − kl
    with weight 1. Rules out a warm-up that ramps to 1 instead of β (or ignores β), one
    counted in epochs or batches-per-epoch instead of optimizer steps, one that never ends
    or starts at β, and β leaking into the reported ELBO."""
    torch.manual_seed(0)
    model = _vae(beta=0.5, kl_warmup_steps=4, binarize=False)  # grey x, as the probe sees it
    data = TensorDataset(torch.rand(12, 1, 8, 8), torch.zeros(12, dtype=torch.long))
    probe = _LossProbe()
    trainer = L.Trainer(accelerator="cpu", max_steps=6, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path,
                        callbacks=[probe], num_sanity_val_steps=0)
    trainer.fit(model, DataLoader(data, batch_size=4), DataLoader(data, batch_size=12))
    weights = []
    for step, recon, kl, loss in probe.rows:
        # the weight that makes the returned loss −mean(recon − w·kl)
        weights.append((loss + float(recon.mean())) / float(kl.mean()))
        assert step == len(weights) - 1
    assert weights == pytest.approx([0.0, 0.125, 0.25, 0.375, 0.5, 0.5], abs=1e-4)
    m = trainer.callback_metrics
    assert float(m["val/elbo"]) == pytest.approx(float(m["val/recon"] - m["val/kl"]), abs=1e-4)


def test_evaluation_binarisation_is_a_fixed_bernoulli_draw() -> None:
    """At val/test each batch is binarised by a draw fixed by its index: the same in every
    epoch (two calls agree), a real Bernoulli(x) draw (grey 0.3 gives ~30 % ones, not a
    threshold at ½), different for different batches, and drawn from its own generator so
    the training RNG stream is untouched; training draws anew each step. Rules out
    rounding, one seed for every batch, a global torch.manual_seed, and a fixed draw at
    training time too."""
    model = _vae(likelihood="bernoulli", binarize=True)
    x = torch.full((64, 1, 8, 8), 0.3)
    torch.manual_seed(5)
    before = torch.rand(3)
    torch.manual_seed(5)
    first = model._observed(x, "val", 0)
    assert torch.equal(torch.rand(3), before)  # the global stream did not move
    assert torch.equal(first, model._observed(x, "val", 0))
    assert torch.equal(first, model._observed(x, "test", 0))
    assert not torch.equal(first, model._observed(x, "val", 1))
    assert set(first.unique().tolist()) == {0.0, 1.0}
    assert float(first.mean()) == pytest.approx(0.3, abs=0.03)
    assert not torch.equal(model._observed(x, "train", 0), model._observed(x, "train", 0))
    grey = _vae(likelihood="bernoulli", binarize=False)
    assert torch.equal(grey._observed(x, "val", 0), x)


def test_moved_draws_give_another_evaluation_sample_and_zero_is_the_runs_own() -> None:
    """eval_noise.moved_draws(k) moves the binarisation and the posterior noise together;
    offset 0 and leaving the block give the runs' own draws back. Rules out: an offset that
    reaches only one of the two draws (the VAE's ELBO noise would be half-measured), and
    an offset left behind after the block (later validations would not be reproducible)."""
    from genlab.models.eval_noise import evaluation_noise, moved_draws

    model = _vae(likelihood="bernoulli", binarize=True)
    x = torch.full((64, 1, 8, 8), 0.5)
    own = model._observed(x, "val", 0)
    with evaluation_noise(torch.device("cpu"), "val", 0):
        own_eps = torch.randn(5)
    with moved_draws(100_003):
        moved = model._observed(x, "val", 0)
        with evaluation_noise(torch.device("cpu"), "val", 0):
            moved_eps = torch.randn(5)
    with moved_draws(0):
        assert torch.equal(model._observed(x, "val", 0), own)
    assert not torch.equal(moved, own) and not torch.equal(moved_eps, own_eps)
    assert torch.equal(model._observed(x, "val", 0), own)
    with evaluation_noise(torch.device("cpu"), "val", 0):
        assert torch.equal(torch.randn(5), own_eps)


def _fit_sigma(min_std: float, steps: int = 300) -> VAE:
    """A Gaussian VAE with learned σ trained on images that are 0 everywhere (the decoder's
    clamp can output 0 exactly, so the density rewards σ → 0 without limit)."""
    torch.manual_seed(0)
    model = _vae(likelihood="gaussian", learn_std=True, gaussian_std=0.1, min_std=min_std)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    x = torch.zeros(32, 1, 8, 8)
    for _ in range(steps):
        opt.zero_grad()
        (-model.elbo_terms(x)["elbo"].mean()).backward()
        opt.step()
    return model


def test_learned_sigma_trains_and_stops_at_min_std() -> None:
    """σ = min_std + exp(log_std) is learned (it falls from its initial 0.1 on data it can
    fit exactly), never below min_std, and so each pixel's log-density stays at most
    −log min_std − ½ log 2π; without the floor the same training takes σ far below it.
    Rules out a σ that is not a trained parameter, a floor applied only at initialisation
    or only when reporting, and a floor that does not bound the density."""
    floor = 0.02
    free, floored = _fit_sigma(0.0), _fit_sigma(floor)
    assert float(free.std().max()) < floor  # the setting does push every σ below the floor
    sigma = floored.std()
    assert float(sigma.min()) >= floor and float(sigma.max()) < 1.5 * floor
    with torch.no_grad():
        recon = floored.elbo_terms(torch.zeros(8, 1, 8, 8))["recon"]
    ceiling = 64 * (-math.log(floor) - 0.5 * math.log(2 * math.pi))
    assert float(recon.max()) <= ceiling + 1e-3
    assert float(recon.max()) > ceiling - 64 * math.log(1.5)  # the floor is what binds


def test_learned_sigma_starts_at_gaussian_std_above_min_std() -> None:
    """σ starts at gaussian_std whatever the floor (not gaussian_std + min_std), and a
    gaussian_std at or below min_std is refused by name."""
    model = _vae(likelihood="gaussian", learn_std=True, gaussian_std=0.2, min_std=0.05)
    assert torch.allclose(model.std(), torch.full((1, 8, 8), 0.2))
    assert model.log_std.requires_grad
    with pytest.raises(ParameterError, match="min_std"):
        _vae(likelihood="gaussian", gaussian_std=0.01, min_std=0.01)
