"""A cosine learning-rate schedule spans the run's budget (conf/model/scheduler/cosine.yaml):
its epochs, or its optimizer steps when the run is bounded by trainer.max_steps only."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from genlab.cli.train import run
from genlab.config.schema import validate
from genlab.errors import ConfigError

TINY = ["data=digits", "metrics=none", "callbacks=checkpoint", "logger=csv",
        "model/scheduler=cosine", "trainer.enable_progress_bar=false"]


def _plain(cfg) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=True)


@pytest.mark.parametrize(("budget", "t_max", "interval"), [
    (["trainer.max_epochs=5"], 5, "epoch"),
    (["trainer.max_epochs=-1", "trainer.max_steps=30"], 30, "step"),
    # both bounds: Lightning stops at the first; the schedule keeps spanning the epochs
    (["trainer.max_epochs=5", "trainer.max_steps=30"], 5, "epoch"),
])
def test_the_cosine_spans_the_runs_budget(compose_cfg, budget, t_max, interval) -> None:
    scheduler = _plain(compose_cfg(*TINY, *budget))["model"]["scheduler"]
    assert (scheduler["T_max"], scheduler["interval"]) == (t_max, interval)


def test_a_run_bounded_by_steps_ends_its_cosine_at_zero(compose_cfg, tmp_path: Path,
                                                        one_thread) -> None:
    """max_epochs=-1, max_steps=30 (1.5 digits epochs of 20 batches): Lightning steps the
    VAE's scheduler per optimizer step, 30 times, and the rate ends at eta_min = 0. Rules out
    a per-epoch schedule over a step count (1 step of 30: the rate would barely move)."""
    run(compose_cfg(*TINY, "trainer.max_epochs=-1", "trainer.max_steps=30"))
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 30
    (sched,) = ckpt["lr_schedulers"]
    assert (sched["T_max"], sched["last_epoch"]) == (30, 30)
    assert ckpt["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(0, abs=1e-12)


def test_without_a_budget_the_refusal_says_what_to_set(compose_cfg) -> None:
    with pytest.raises(ConfigError, match="trainer.max_steps ≥ 1") as err:
        validate(_plain(compose_cfg(*TINY, "trainer.max_epochs=-1")))
    assert err.value.key == "model.scheduler.T_max"


def test_a_gan_bounded_by_steps_is_refused_with_its_players_counts(compose_cfg) -> None:
    """A GAN steps each player's scheduler per that player's step, while max_steps counts
    both players: a cosine over max_steps would stop halfway. Rules out accepting it."""
    cfg = _plain(compose_cfg("experiment=gan_ring8", "model/scheduler=cosine",
                             "trainer.max_epochs=-1", "trainer.max_steps=300"))
    with pytest.raises(ConfigError, match="D makes about 150 and G about 150"):
        validate(cfg)
    validate(_plain(compose_cfg("experiment=gan_ring8", "model/scheduler=cosine",
                                "trainer.max_epochs=3", "trainer.max_steps=300")))
