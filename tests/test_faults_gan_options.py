"""GAN training options Lightning refuses under manual optimisation (issue 24, item 6):
`trainer.gradient_clip_val` / `gradient_clip_algorithm` clip each player in the GAN's own
step (model.clip_d / clip_g), and `trainer.accumulate_grad_batches` > 1 is refused by the
schema before anything is built."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from conftest import run_cli
from genlab.cli.train import run
from genlab.errors import ConfigError

# a small DCGAN on the digits: 4 batches of one epoch, no suite, no test
GAN = ["data=digits", "model=dcgan", "model.generator.base_channels=8",
       "model.discriminator.base_channels=8", "trainer.max_epochs=1",
       "+trainer.limit_train_batches=4", "+trainer.limit_val_batches=1", "test=false",
       "callbacks=checkpoint", "metrics=none", "optimized_metric=null", "seed=0",
       "+callbacks.grads={_target_:test_faults_gan_options.GradientRecorder}"]


class GradientRecorder(Callback):
    """After each batch, each player's gradients as its last step left them (G's step
    toggles D off, so D keeps its own step's gradients): the total 2-norm and the largest
    absolute entry, per player."""

    seen: list[dict[str, tuple[float, float]]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        row = {}
        for player in ("generator", "discriminator"):
            grads = [p.grad for p in getattr(pl_module, player).parameters()
                     if p.grad is not None]
            flat = torch.cat([g.reshape(-1) for g in grads])
            row[player] = (float(flat.norm()), float(flat.abs().max()))
        type(self).seen.append(row)


def _fit(compose_cfg, tmp_path: Path, name: str, *overrides: str):
    GradientRecorder.seen = []
    run(compose_cfg(*GAN, *overrides, output_dir=tmp_path / name))
    state = torch.load(tmp_path / name / "checkpoints" / "last.ckpt", weights_only=True,
                       map_location="cpu")["state_dict"]
    return list(GradientRecorder.seen), state


def test_trainer_gradient_clipping_clips_both_players_and_changes_the_run(
        compose_cfg, tmp_path: Path, one_thread) -> None:
    """Rules out: clipping accepted but never applied (the no-clip run's norms exceed the
    value, the clipped run's stay under it and its weights differ); clipping only one
    player, or the wrong player's parameters at each step (each player's own gradient norm
    is bounded, as its last step left it); the trainer's value lost on the way to the
    model (the checkpoint's hyper-parameters hold it)."""
    free, free_state = _fit(compose_cfg, tmp_path, "free")
    clip = 0.005
    clipped, clipped_state = _fit(compose_cfg, tmp_path, "clipped",
                                  f"+trainer.gradient_clip_val={clip}")
    for player in ("generator", "discriminator"):
        assert max(r[player][0] for r in free) > 2 * clip, "the value must be active"
        assert max(r[player][0] for r in clipped) <= clip * (1 + 1e-4)
    assert any(not torch.equal(free_state[k], clipped_state[k]) for k in free_state)
    hparams = torch.load(tmp_path / "clipped" / "checkpoints" / "last.ckpt",
                         weights_only=True)["hyper_parameters"]
    assert (hparams["clip_d"], hparams["clip_g"]) == (clip, clip)


def test_per_player_keys_and_clipping_by_value(compose_cfg, tmp_path: Path,
                                               one_thread) -> None:
    """Rules out: `clip_d` leaking onto G (G's norm stays above the value), and an
    algorithm ignored (by value, every entry ≤ the value while the norm exceeds it)."""
    # unclipped, G's norm reaches 0.0156 and D's 0.206 on these 4 batches
    seen, _ = _fit(compose_cfg, tmp_path, "d_only", "model.clip_d=0.01")
    assert max(r["discriminator"][0] for r in seen) <= 0.01 * (1 + 1e-4)
    assert max(r["generator"][0] for r in seen) > 0.012
    seen, _ = _fit(compose_cfg, tmp_path, "by_value", "+trainer.gradient_clip_val=0.001",
                   "+trainer.gradient_clip_algorithm=value")
    for player in ("generator", "discriminator"):
        assert max(r[player][1] for r in seen) <= 0.001 * (1 + 1e-6)
        assert max(r[player][0] for r in seen) > 0.001


def test_gradient_clipping_from_the_command_line(tmp_path: Path) -> None:
    """Rules out: the clipping keys reaching Lightning's Trainer (its validator would end
    the run with exit 1 and 'not supported for manual optimization')."""
    proc = run_cli("experiment=dcgan_digits", "+trainer.gradient_clip_val=1.0",
                   *[o for o in GAN if not o.startswith("+callbacks.grads")],
                   "logger=csv", "trainer.enable_progress_bar=false", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "manual optimization" not in proc.stderr
    assert list(tmp_path.rglob("last.ckpt"))


def test_accumulation_is_refused_before_anything_is_built(tmp_path: Path) -> None:
    """Rules out: a refusal by Lightning at fit (after the data and the judge were
    prepared: a classifier would be in the cache, and the exit code 1 with a traceback)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "keep.txt").write_text("earlier entry")
    proc = run_cli("experiment=dcgan_digits", "+trainer.accumulate_grad_batches=2",
                   cwd=tmp_path, env={"GENLAB_CACHE": str(cache)})
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert ("Invalid config: `trainer.accumulate_grad_batches` = 2; allowed: 1 for GANs"
            in proc.stderr)
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) <= 4
    assert sorted(p.name for p in cache.iterdir()) == ["keep.txt"]
    assert (cache / "keep.txt").read_text() == "earlier entry"
    assert not list(tmp_path.rglob("*.ckpt"))


@pytest.mark.parametrize("overrides,key", [
    (["+trainer.gradient_clip_algorithm=bogus"], "model.clip_algorithm"),
    (["model.clip_g=-1"], "model.clip_g"),
    # Lightning's AMP plugin cannot clip a fused Adam (the GAN default): per-player keys too
    (["trainer.precision=16-mixed", "model.clip_d=1.0"], "model.optimizer_g.fused"),
])
def test_bad_clipping_values_are_refused_by_the_schema(compose_cfg, overrides: list[str],
                                                       key: str) -> None:
    """Rules out: values only the GAN (after torch) or Lightning (at the first step)
    would refuse."""
    from genlab.config.instantiate import resolved
    from genlab.config.schema import validate

    with pytest.raises(ConfigError, match=f"`{key}`"):
        validate(resolved(compose_cfg("model=dcgan", *overrides)))
