"""Ctrl-C and SIGTERM (issue 24 item 3): a final checkpoint, the trackers closed as failed,
no test, exit 130 / 143, and one paragraph with the command that continues the run.

The signal is sent by the run to itself from a callback (`SignalAt`, importable as
`test_faults_interrupts.SignalAt` with tests/ on PYTHONPATH), so it lands at a known point:
mid-epoch, during validation, during the test.
"""

from __future__ import annotations

import csv
import os
import signal
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from conftest import run_cli
from genlab.errors import InterruptedRunError

TESTS = str(Path(__file__).parent)
TINY = ["logger=csv", "metrics=none", "trainer.enable_progress_bar=false",
        "model.iwae_samples=2", "+trainer.limit_train_batches=6",
        "+trainer.limit_val_batches=2", "+trainer.limit_test_batches=2",
        "trainer.log_every_n_steps=2", "run_id=r"]


class SignalAt(Callback):
    """Send `signum` to this process (`times` times) at the `at` hook's first call in
    epoch `epoch`: "train" (a training batch's start), "val" (a validation batch's start,
    not the sanity check) or "test" (any epoch)."""

    def __init__(self, at: str, signum: int = signal.SIGINT, epoch: int = 0,
                 times: int = 1) -> None:
        self.at, self.signum, self.epoch, self.times, self.sent = at, signum, epoch, times, False

    def _maybe(self, trainer, at: str) -> None:
        if self.sent or at != self.at or (at != "test" and trainer.current_epoch != self.epoch):
            return
        self.sent = True
        for _ in range(self.times):
            os.kill(os.getpid(), self.signum)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == 2:
            self._maybe(trainer, "train")

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx,
                                  dataloader_idx=0) -> None:
        if not trainer.sanity_checking:
            self._maybe(trainer, "val")

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx,
                            dataloader_idx=0) -> None:
        self._maybe(trainer, "test")


def _signal_at(at: str, signum: int = 2, epoch: int = 0, times: int = 1) -> str:
    return (f"+callbacks.signal_at={{_target_:test_faults_interrupts.SignalAt,at:{at},"
            f"signum:{signum},epoch:{epoch},times:{times}}}")


def _train(tmp_path: Path, *args: str):
    return run_cli(*TINY, *args, cwd=tmp_path, env={"PYTHONPATH": TESTS})


def _run(tmp_path: Path) -> Path:
    return tmp_path / "logs" / "train" / "runs" / "r"


def _state(ckpt: Path) -> tuple[int, int]:
    c = torch.load(ckpt, weights_only=True, map_location="cpu")
    return int(c["epoch"]), int(c["global_step"])


def _assert_interrupted(proc, code: int, name: str, run: Path) -> None:
    last = run / "checkpoints" / "last.ckpt"
    assert proc.returncode == code, proc.stderr[-3000:]
    assert f"error: Interrupted by {name}" in proc.stderr, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert f"continue the run with `genlab-train ckpt_path={last}`" in proc.stderr
    assert "run_id=r resume=auto" in proc.stderr
    assert not (run / "metrics.json").exists()
    assert not list(run.glob(".genlab.lock*")), "the run directory's lock outlived the run"


def _csv_rows(run: Path) -> list[dict]:
    with open(run / "csv" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_ctrl_c_mid_epoch_checkpoints_skips_the_test_and_the_command_continues_it(
        tmp_path: Path) -> None:
    """Ctrl-C in epoch 1's training. Rules out: Lightning's own handling (exit 1, "Detected
    KeyboardInterrupt", no final checkpoint: last.ckpt would still be epoch 0's), running
    the test on the half-trained model, a resume command that does not work as printed."""
    proc = _train(tmp_path, "trainer.max_epochs=4", _signal_at("train", epoch=1))
    run = _run(tmp_path)
    _assert_interrupted(proc, 130, "Ctrl-C (SIGINT) during training", run)
    epoch, step = _state(run / "checkpoints" / "last.ckpt")
    assert (epoch, step) == (1, 12)  # the rest of epoch 1 was short: its end, exactly
    assert not any(k.startswith("test/") and v for r in _csv_rows(run) for k, v in r.items())

    again = run_cli(f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", cwd=tmp_path,
                    env={"PYTHONPATH": TESTS})
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"Continuing run {run}" in again.stdout
    assert (run / "metrics.json").is_file()
    assert sorted({int(r["epoch"]) for r in _csv_rows(run) if r.get("val/elbo")}) == [0, 1, 2, 3]


def test_sigterm_outside_slurm_is_an_interrupt_too(tmp_path: Path) -> None:
    """A plain SIGTERM (`kill`, a container stopping). Rules out: dying with the signal's
    default action (no checkpoint, no message, exit -15) or Lightning's SIGTERMException."""
    proc = _train(tmp_path, "trainer.max_epochs=4", _signal_at("train", signum=15, epoch=1))
    run = _run(tmp_path)
    _assert_interrupted(proc, 143, "SIGTERM during training", run)
    assert _state(run / "checkpoints" / "last.ckpt") == (1, 12)


def test_ctrl_c_during_validation_checkpoints_the_epoch_end(tmp_path: Path) -> None:
    """Rules out: cutting validation in half and saving that state (a checkpoint Lightning
    would resume mid-validation), or ignoring a signal that arrives outside training."""
    proc = _train(tmp_path, "trainer.max_epochs=4", _signal_at("val", epoch=1))
    run = _run(tmp_path)
    _assert_interrupted(proc, 130, "Ctrl-C (SIGINT) during validation", run)
    assert _state(run / "checkpoints" / "last.ckpt") == (1, 12)
    assert {int(r["epoch"]) for r in _csv_rows(run) if r.get("val/elbo")} == {0, 1}


def test_ctrl_c_during_the_test_keeps_the_trained_checkpoints(tmp_path: Path) -> None:
    """Rules out: overwriting the final checkpoint with a test-time save, or writing a
    metrics.json from a test that did not finish."""
    proc = _train(tmp_path, "trainer.max_epochs=2", _signal_at("test"))
    run = _run(tmp_path)
    _assert_interrupted(proc, 130, "Ctrl-C (SIGINT) during the test", run)
    assert "training had finished" in proc.stderr
    assert _state(run / "checkpoints" / "last.ckpt") == (1, 12)


def test_a_second_ctrl_c_stops_at_once_and_keeps_the_last_checkpoint(tmp_path: Path) -> None:
    """Two Ctrl-C in a row mid-epoch 1. Rules out: a run that cannot be stopped while it
    waits for its safe point, and a half-written checkpoint replacing epoch 0's."""
    proc = _train(tmp_path, "trainer.max_epochs=4", _signal_at("train", epoch=1, times=2))
    run = _run(tmp_path)
    _assert_interrupted(proc, 130, "Ctrl-C (SIGINT) at once", run)
    assert _state(run / "checkpoints" / "last.ckpt") == (0, 6)


def test_wandb_run_is_finished_as_interrupted(compose_cfg, tmp_path: Path,
                                              monkeypatch) -> None:
    """In process, W&B offline. Rules out: finishing the W&B run with exit code 0 (it
    would show "finished"), or leaving it open."""
    import wandb

    codes: list[int] = []
    finish = wandb.sdk.wandb_run.Run.finish

    def recording_finish(self, *args, exit_code=None, **kwargs):
        codes.append(exit_code)
        return finish(self, *args, exit_code=exit_code, **kwargs)

    monkeypatch.setattr(wandb.sdk.wandb_run.Run, "finish", recording_finish)
    cfg = compose_cfg("logger=wandb", "trainer.max_epochs=3", "+trainer.limit_train_batches=4",
                      "+trainer.limit_val_batches=1", "callbacks=checkpoint",
                      "+callbacks.signal_at={_target_:test_faults_interrupts.SignalAt,"
                      "at:train,epoch:1}")
    from genlab.cli.train import run

    # what SIGINT's handler was before the run (Python's default_int_handler, or SIG_IGN
    # when pytest was started in the background by a non-interactive shell)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(InterruptedRunError) as err:
        run(cfg)
    assert err.value.exit_code == 130 and codes == [130]
    assert signal.getsignal(signal.SIGINT) is before  # restored
