"""GAN options: the generator EMA, the R1 penalty, the players' schedulers, and the JSD
diagnostics logged and plotted by a short toy run."""

import json
import math
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from genlab.cli.train import run
from genlab.errors import ConfigError
from genlab.models.gan import r1_penalty
from genlab.runtime.checkpoint_io import load_trained

SHORT = ["trainer.max_epochs=2", "+trainer.limit_train_batches=6", "data.train_size=3000",
         "trainer.log_every_n_steps=1"]


def test_r1_penalty_of_a_linear_discriminator_counts_a_pack_as_one_input() -> None:
    # logit = w · (packed input): ∇ = w for every pack, so E‖∇‖² = ‖w‖²; dividing by the
    # number of samples instead of packs would give ‖w‖² / m
    torch.manual_seed(0)
    w = torch.randn(4, requires_grad=True)  # packs of m = 2 two-dimensional points
    x = torch.randn(10, 2, requires_grad=True)
    logits = x.reshape(5, 4) @ w
    penalty = r1_penalty(logits, x)
    assert float(penalty) == pytest.approx(float(w.pow(2).sum()), rel=1e-6)
    penalty.backward()  # differentiable in D's parameters: D's step descends it
    assert torch.allclose(w.grad, 2 * w.detach())


def _last_ckpt(out: Path) -> dict:
    return torch.load(out / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")


def test_ema_generator_samples_and_is_checkpointed_beside_the_raw_one(compose_cfg, tmp_path,
                                                                      one_thread) -> None:
    run(compose_cfg("experiment=gan_ring8", *SHORT, "model.ema_decay=0.8", "model.d_steps=2"))
    out = tmp_path / "run"
    state = _last_ckpt(out)["state_dict"]
    raw = {k[len("generator."):]: v for k, v in state.items() if k.startswith("generator.")}
    ema = {k[len("generator_ema.module."):]: v for k, v in state.items()
           if k.startswith("generator_ema.module.")}
    assert raw.keys() == ema.keys() and raw
    # one EMA update per G step: 2 epochs × 6 batches / d_steps 2 (updating per D step,
    # too, would count 12 + 6)
    assert int(state["generator_ema.n_averaged"]) == 6
    assert any(not torch.equal(raw[k], ema[k]) for k in raw)

    model, _ = load_trained(str(out / "checkpoints" / "last.ckpt"))
    z = torch.randn(64, model.hparams.latent_dim)
    assert torch.equal(model.generate(z), model.generator_ema.module(z))
    assert not torch.allclose(model.generate(z), model.generator(z))


def test_schedulers_step_both_players_and_plateau_is_refused(compose_cfg, tmp_path,
                                                             one_thread) -> None:
    run(compose_cfg("experiment=gan_ring8", *SHORT, "model/scheduler=cosine"))
    ckpt = _last_ckpt(tmp_path / "run")
    # cosine with T_max = max_epochs = 2, stepped per epoch: both players at eta_min = 0
    # after the 2nd epoch; rules out stepping only one player's scheduler or none (manual
    # optimisation steps none by itself)
    assert [s["last_epoch"] for s in ckpt["lr_schedulers"]] == [2, 2]
    assert [o["param_groups"][0]["lr"] for o in ckpt["optimizer_states"]] == [0.0, 0.0]
    with pytest.raises(ConfigError, match="model.scheduler"):
        run(compose_cfg("experiment=gan_ring8", *SHORT, "model/scheduler=plateau"))


class SchedulerProbe(Callback):
    """A plain callback's on_train_epoch_end runs before the module's: where the SLURM
    preemption callback writes its checkpoint. Records the schedulers' epoch there."""

    seen: list[list[int]] = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        SchedulerProbe.seen.append([c.scheduler.last_epoch for c in trainer.lr_scheduler_configs])


def test_epoch_schedulers_have_stepped_before_any_epoch_end_checkpoint(compose_cfg,
                                                                       one_thread) -> None:
    # stepping them in the module's on_train_epoch_end left a preemption checkpoint one
    # step behind, and the requeued run's lr then differed from its twin's
    SchedulerProbe.seen = []
    run(compose_cfg("experiment=gan_ring8", *SHORT, "model/scheduler=cosine",
                    "+callbacks.probe._target_=test_gan_options.SchedulerProbe"))
    assert SchedulerProbe.seen == [[1, 1], [2, 2]]


def test_toy_run_logs_both_jsds_and_draws_them(compose_cfg, tmp_path, one_thread) -> None:
    """The logged test/jsd is the binned JSD of the tested generator's own samples (drawn
    again here with other noise: equal within 0.005) and lies inside discrete_jsd's clamp
    to [0, log 2], so the clamp does not make the check pass (the old test asserted
    0 ≤ jsd ≤ log 2 of a clamped value). Rules out a jsd of the real points (≈ 0), of
    points that miss the mixture or were never generated (the clamp's log 2), of other
    weights than the tested ones, and the bound logged under the jsd's name."""
    from genlab.data.toy2d import Ring8
    from genlab.metrics.jsd import MixtureJSD

    # without the EMA (decay 0.99: 12 G steps leave it near its initial weights) the
    # generator's points already overlap the mixture, so the jsd is inside its clamp
    run(compose_cfg("experiment=gan_ring8", *SHORT, "model.r1_gamma=0.1",
                    "model.ema_decay=null", "callbacks.jsd_trace.every_n_epochs=1"))
    out = tmp_path / "run"
    result = json.loads((out / "metrics.json").read_text())
    metrics = result["metrics"]
    ckpt = result["test"]["checkpoint"]
    model, _ = load_trained(ckpt if ckpt.endswith(".ckpt") else
                            str(out / "checkpoints" / "last.ckpt"))
    ring = Ring8(name="ring8")
    z = torch.randn(model.hparams.jsd_samples, model.hparams.latent_dim,
                    generator=torch.Generator().manual_seed(123))
    with torch.no_grad():
        again = MixtureJSD(ring.mode_centers, ring.mode_std)(model.generate(z))
    print(f"test/jsd {metrics['test/jsd']:.4f}, again {again:.4f}, "
          f"bound {metrics['test/jsd_lower_bound']:.4f}")
    # measured: 0.6785 logged, 0.6793 again (20,000 points each), bound 0.074
    assert metrics["test/jsd"] == pytest.approx(again, abs=0.005)
    assert 0.1 < metrics["test/jsd"] < math.log(2) - 0.005
    for stage in ("val", "test"):
        assert metrics[f"{stage}/jsd_lower_bound"] <= metrics[f"{stage}/jsd"] + 0.05
        assert metrics[f"{stage}/jsd_lower_bound"] != metrics[f"{stage}/jsd"]
    images = sorted(p.name for p in (out / "images").glob("jsd_*.png"))
    assert images == ["jsd_epoch000.png", "jsd_epoch001.png", "jsd_final.png"]
    rows = (out / "csv" / "metrics.csv").read_text().splitlines()
    assert "train/r1" in rows[0]


def test_ema_decay_out_of_range_is_a_config_error() -> None:
    from genlab.models.gan import GAN

    toy = {"_target_": "genlab.nets.toy.MLPGenerator"}
    with pytest.raises(ConfigError, match="ema_decay"):
        GAN([2], toy, {"_target_": "genlab.nets.toy.MLPDiscriminator"},
            {"_target_": "torch.optim.Adam", "_partial_": True},
            {"_target_": "torch.optim.Adam", "_partial_": True}, ema_decay=1.0)


def test_an_ema_slower_than_the_run_is_warned_about(compose_cfg, one_thread) -> None:
    # 12 G steps against a horizon of 1 / (1 − 0.999) = 1000: the EMA would stay near its
    # initialisation; 0.5 (horizon 2) is fine and must not warn
    with pytest.warns(UserWarning, match="model.ema_decay=0.999"):
        run(compose_cfg("experiment=gan_ring8", *SHORT, "model.ema_decay=0.999"))
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run(compose_cfg("experiment=gan_ring8", *SHORT, "model.ema_decay=0.5"))
    assert not [w for w in caught if "model.ema_decay" in str(w.message)]
