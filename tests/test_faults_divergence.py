"""Divergence stops the run (issue 24, item 5): a non-finite training loss, validation
metric or weight ends the run naming the first step that had it and the value, exit 1; no
checkpoint of non-finite weights is written, the best checkpoint never comes from a
non-finite metric, and no final table or metrics.json is written as a result."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from conftest import run_cli, run_dirs
from genlab.callbacks.nan_guard import NonFiniteGuard
from genlab.cli.train import run
from genlab.errors import NonFiniteError

ENV = {"PYTHONPATH": str(Path(__file__).parent)}
GUARD = "+callbacks.nonfinite_guard={_target_:genlab.callbacks.nan_guard.NonFiniteGuard," \
        "every_n_steps:${trainer.log_every_n_steps}}"
# the digits VAE: 20 training batches an epoch; only the checkpoints (saved every epoch)
VAE = ["callbacks=checkpoint", "callbacks.last_checkpoint.min_interval_s=0", "metrics=none",
       "trainer.log_every_n_steps=10", "test=false"]

# NaN pixels cannot be binarised (torch.bernoulli refuses them): keep them as they are; and
# a DataLoader's batches are copies (in memory, a whole-split batch is a view of the split)
VAL_NAN = ["model.binarize=false", "data.in_memory=false"]


class NaNBatch(Callback):
    """Fill one batch with NaN: the training batch at step `at_step`, or (with
    `val_epoch`) every validation batch of that epoch."""

    def __init__(self, at_step: int = -1, val_epoch: int = -1) -> None:
        self.at_step, self.val_epoch = at_step, val_epoch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if trainer.global_step == self.at_step:
            batch[0].fill_(float("nan"))

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx: int,
                                  dataloader_idx: int = 0) -> None:
        if trainer.current_epoch == self.val_epoch and not trainer.sanity_checking:
            batch[0].fill_(float("nan"))


def _nan_at(step: int = -1, val_epoch: int = -1) -> str:
    return ("+callbacks.nan={_target_:test_faults_divergence.NaNBatch,"
            f"at_step:{step},val_epoch:{val_epoch}}}")


def _final_table(stdout: str) -> bool:
    """Whether the console shows a final result table (genlab/console.py)."""
    return any(title in stdout for title in ("final record", "final metrics", "┃ metric"))


def _ckpt(path: Path) -> dict:
    return torch.load(path, weights_only=True, map_location="cpu")


def _finite(path: Path) -> bool:
    return all(torch.isfinite(v).all() for v in _ckpt(path)["state_dict"].values()
               if v.is_floating_point())


def test_nan_between_logging_steps_names_the_first_step(tmp_path: Path) -> None:
    """NaN weights at step 33 (so its loss is NaN), reads at steps 30 and 40. Rules out:
    checking only the loss of the logging step (it would name step 40, or the epoch-end
    weight check step 40); naming the last bad row of the interval (39); a deferred check
    that lets epoch 1's last.ckpt be written from the NaN state; printing the final table
    after the error."""
    proc = run_cli(*VAE, "trainer.max_epochs=3", GUARD,
                   "+callbacks.poison={_target_:faults.PoisonWeights,at_step:33}",
                   cwd=tmp_path, env=ENV)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert ("error: Non-finite train/loss at step 33 (epoch 1, batch 13): nan; "
            "training stopped") in proc.stderr
    assert "Traceback" not in proc.stderr and not _final_table(proc.stdout)
    (out,) = run_dirs(tmp_path)
    assert not (out / "metrics.json").exists()
    ckpts = sorted((out / "checkpoints").glob("*.ckpt"))
    assert [c.name for c in ckpts] == ["best-epoch000.ckpt", "last.ckpt"]
    for ckpt in ckpts:  # epoch 0's, as written before the fault
        assert _finite(ckpt) and _ckpt(ckpt)["global_step"] == 20


def test_a_diverging_learning_rate_stops_at_its_first_non_finite_step(tmp_path: Path) -> None:
    """The issue's case (lr 1e30, 5 epochs; logging every 50 steps, so no logging step in
    an epoch of 20). Rules out: a check at logging steps only (none before the epoch end),
    an exit 0 with a NaN table."""
    proc = run_cli("model.optimizer.lr=1e30", "trainer.max_epochs=5", "metrics=none",
                   "logger=csv", "trainer.enable_progress_bar=false", "model.iwae_samples=4",
                   cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "error: Non-finite train/loss at step 1 (epoch 0, batch 1): " in proc.stderr
    assert "Traceback" not in proc.stderr and not _final_table(proc.stdout)
    (out,) = run_dirs(tmp_path)
    assert not (out / "metrics.json").exists() and not list(out.rglob("*.ckpt"))


def test_gan_losses_are_checked_every_step(compose_cfg, tmp_path: Path, one_thread) -> None:
    """Manual optimisation: the GAN returns both players' losses. Rules out: a guard that
    reads only `loss` or the logged values (here logged every 5 batches, NaN at batch 7)."""
    cfg = compose_cfg("data=digits", "model=dcgan", "model.generator.base_channels=8",
                      "model.discriminator.base_channels=8", "trainer.max_epochs=1",
                      "callbacks=checkpoint", "metrics=none", "optimized_metric=null",
                      "trainer.log_every_n_steps=5", GUARD, _nan_at(14), "test=false")
    # 2 optimizer steps a batch, but the step axis counts batches
    with pytest.raises(NonFiniteError, match=r"Non-finite train/d_loss, train/g_loss at "
                       r"step 7 \(epoch 0, batch 7\): nan, nan"):
        run(cfg)
    assert not list((tmp_path / "run").rglob("*.ckpt"))


def test_non_finite_validation_metric_stops_before_any_checkpoint_ranks_it(
        compose_cfg, tmp_path: Path) -> None:
    """Rules out: a validation NaN that training survives (its loss stays finite), and a
    best checkpoint chosen from it (epoch 1's validation is NaN: only epoch 0's files)."""
    cfg = compose_cfg(*VAE, "trainer.max_epochs=3", GUARD, _nan_at(val_epoch=1), *VAL_NAN)
    with pytest.raises(NonFiniteError, match=r"Non-finite validation metric .*val/elbo = nan"
                       r" at step 39 \(epoch 1\)"):
        run(cfg)
    ckpts = sorted((tmp_path / "run" / "checkpoints").glob("*.ckpt"))
    assert [c.name for c in ckpts] == ["best-epoch000.ckpt", "last.ckpt"]
    assert all(_ckpt(c)["global_step"] == 20 for c in ckpts)


def test_without_a_guard_checkpoints_still_refuse_non_finite_states(compose_cfg,
                                                                    tmp_path: Path) -> None:
    """callbacks=checkpoint with the guard switched off (every_n_steps=0; without one
    configured, genlab adds it). Rules out: Lightning's ModelCheckpoint saving a NaN
    score while its top k is empty (epoch 0's validation is NaN: it would write
    best-epoch000.ckpt), and last.ckpt written from NaN weights (poisoned at step 25, so
    epoch 1's end at step 40 must refuse)."""
    cfg = compose_cfg(*VAE, "trainer.max_epochs=3", _nan_at(val_epoch=0), *VAL_NAN,
                      "+callbacks.poison={_target_:faults.PoisonWeights,at_step:25}",
                      "+callbacks.off={_target_:genlab.callbacks.nan_guard.NonFiniteGuard,"
                      "every_n_steps:0}")
    with pytest.raises(NonFiniteError, match=r"Parameter `.*` holds NaN/inf at step 40"):
        run(cfg)
    ckpts = sorted((tmp_path / "run" / "checkpoints").glob("*.ckpt"))
    assert [c.name for c in ckpts] == ["last.ckpt"]
    assert _ckpt(ckpts[0])["global_step"] == 20 and _finite(ckpts[0])


def test_steps_between_reads_never_read_a_loss_back_to_the_host() -> None:
    """Every step is recorded, but read back only every `every_n_steps`: losses on the
    meta device (which has no values to read) pass 49 steps and fail at the 50th's read.
    Rules out: a per-step `.item()` / `bool()` / `.cpu()` (a host sync each step on a GPU)."""
    guard = NonFiniteGuard(every_n_steps=50)
    loop = SimpleNamespace(epoch_loop=SimpleNamespace(_batches_that_stepped=0))
    trainer = SimpleNamespace(global_step=0, current_epoch=0, world_size=1, fit_loop=loop)
    losses = {"train/d_loss": torch.empty((), device="meta"),
              "train/g_loss": torch.empty((), device="meta")}
    for batch in range(50):
        guard.on_train_batch_start(trainer, None, None, batch)
        if batch == 49:
            with pytest.raises(RuntimeError, match="meta"):
                guard.on_train_batch_end(trainer, None, losses, None, batch)
        else:
            guard.on_train_batch_end(trainer, None, losses, None, batch)
        trainer.global_step += 2
        loop.epoch_loop._batches_that_stepped += 1
