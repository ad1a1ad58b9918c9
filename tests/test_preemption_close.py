"""SlurmPreemption's requeue: the trackers close before `scontrol requeue`, a tracker that
fails to close cannot turn the requeued job into a failed result, and a failed requeue
lets training go on with W&B reopened.

The race these rule out was seen in CI (tests/test_slurm.py, preempted twin): W&B was
finished after the requeue, SLURM's SIGTERM killed W&B's service process mid-finish, the
rank raised ConnectionResetError and returned a failed result, so the sweep counted a
trial that went on as failed. The real requeue is exercised in tests/test_slurm.py."""

from __future__ import annotations

import signal
from pathlib import Path
from types import SimpleNamespace

import pytest
from lightning.pytorch.loggers import WandbLogger

from genlab.callbacks import preemption


class Exited(Exception):
    """Stands for os._exit in _wait_for."""


class DyingRun:
    """A W&B run whose service process SLURM's SIGTERM has killed."""

    def __init__(self, events: list[str]) -> None:
        self.events = events

    def mark_preempting(self) -> None:
        self.events.append("mark_preempting")

    def finish(self, exit_code: int = 0) -> None:
        self.events.append("finish")
        raise ConnectionResetError("Connection lost")


def fake_trainer(tmp_path: Path, events: list[str]) -> SimpleNamespace:
    wandb = WandbLogger(offline=True, save_dir=str(tmp_path))
    wandb._experiment = DyingRun(events)
    return SimpleNamespace(
        _checkpoint_connector=SimpleNamespace(hpc_save_path=lambda root: tmp_path / "hpc.ckpt"),
        default_root_dir=str(tmp_path), global_rank=0, is_global_zero=True,
        save_checkpoint=lambda path: events.append("checkpoint"),
        strategy=SimpleNamespace(broadcast=lambda value: value),
        loggers=[wandb])


@pytest.fixture
def events(monkeypatch) -> list[str]:
    events: list[str] = []

    def wait_for(stop, timeout_s):
        events.append("exit")
        raise Exited

    monkeypatch.setattr(preemption, "_wait_for", wait_for)
    return events


def test_trackers_close_before_the_requeue_and_a_failing_close_still_exits(
        tmp_path: Path, events: list[str], monkeypatch) -> None:
    """Rules out closing W&B after `scontrol requeue` (SIGTERM then cuts it short) and a
    close error escaping the callback (the job would return a failed result)."""
    monkeypatch.setattr(preemption, "_requeue", lambda: events.append("requeue") or True)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(Exited):
            preemption.SlurmPreemption()._checkpoint_requeue_exit(
                fake_trainer(tmp_path, events))
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert events == ["checkpoint", "mark_preempting", "finish", "requeue", "exit"]


def test_a_failed_requeue_goes_on_training_with_wandb_reopened(
        tmp_path: Path, events: list[str], monkeypatch) -> None:
    """Rules out a run that, after `scontrol requeue` failed, trains on with a finished W&B
    run (every later log call would fail) or with SIGTERM still swallowed."""
    monkeypatch.setattr(preemption, "_requeue", lambda: events.append("requeue") and False)
    previous = signal.getsignal(signal.SIGTERM)
    callback = preemption.SlurmPreemption()
    callback.signalled = True
    trainer = fake_trainer(tmp_path, events)
    try:
        callback._checkpoint_requeue_exit(trainer)  # returns: training goes on
        assert signal.getsignal(signal.SIGTERM) is previous
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert events == ["checkpoint", "mark_preempting", "finish", "requeue"]
    assert trainer.loggers[0]._experiment is None  # started again on next use, same id
    assert callback.signalled is False
