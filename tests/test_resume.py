"""Resume: run directory names, atomic checkpoint writes, W&B run continued per run dir,
and a run killed with SIGKILL that `resume=auto` finishes exactly like a twin."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from cluster_runs import TINY_RUN, final_metrics, twin_then_killed_and_resumed
from genlab.config.naming import run_dir_name, slurm_run_name
from genlab.errors import ConfigError
from genlab.run_dir import last_checkpoint
from genlab.runtime.checkpoint_io import AtomicCheckpointIO
from genlab.runtime.resume import resume_checkpoint, wandb_run_continued


def test_slurm_run_name_is_shared_by_ranks_and_requeues() -> None:
    assert slurm_run_name({}) is None
    assert slurm_run_name({"SLURM_JOB_ID": "12", "SLURM_PROCID": "1"}) == "slurm-12"
    assert slurm_run_name({"SLURM_JOB_ID": "12", "SLURM_STEP_ID": "0"}) == "slurm-12"
    assert slurm_run_name({"SLURM_JOB_ID": "12", "SLURM_STEP_ID": "3"}) == "slurm-12.3"
    array = {"SLURM_JOB_ID": "15", "SLURM_ARRAY_JOB_ID": "14", "SLURM_ARRAY_TASK_ID": "1"}
    assert slurm_run_name(array) == "slurm-14_1"
    assert run_dir_name("mine", "123-4") == "mine"


def test_atomic_checkpoint_write_survives_a_failed_save(tmp_path: Path, monkeypatch) -> None:
    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint({"step": torch.tensor(1)}, path)

    def dies_halfway(obj, f) -> None:
        f.write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"step": torch.tensor(2)}, path)
    assert torch.load(path, weights_only=True)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_resume_auto_takes_the_newest_checkpoint(tmp_path: Path) -> None:
    cfg = OmegaConf.create({"resume": "auto", "ckpt_path": None})
    assert resume_checkpoint(cfg, tmp_path) is None
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"a")
    time.sleep(0.01)
    (tmp_path / "hpc_ckpt_1.ckpt").write_bytes(b"b")
    assert last_checkpoint(tmp_path) == tmp_path / "hpc_ckpt_1.ckpt"
    assert resume_checkpoint(cfg, tmp_path) == str(tmp_path / "hpc_ckpt_1.ckpt")
    assert resume_checkpoint(OmegaConf.create({"resume": None, "ckpt_path": None}),
                             tmp_path) is None
    with pytest.raises(ConfigError, match="resume"):
        resume_checkpoint(OmegaConf.create({"resume": "yes", "ckpt_path": None}), tmp_path)


def test_wandb_run_id_is_kept_in_the_run_dir(tmp_path: Path) -> None:
    logger = OmegaConf.create({"wandb": {"_target_": "lightning.pytorch.loggers.WandbLogger",
                                         "id": None}})
    first = wandb_run_continued(logger, tmp_path)
    again = wandb_run_continued(logger, tmp_path)
    assert first.wandb.id == again.wandb.id == (tmp_path / "wandb_run_id").read_text().strip()
    assert again.wandb.resume == "allow"


def _cli(*args: str, cwd: Path) -> list[str]:
    return [sys.executable, "-m", "genlab.train", *TINY_RUN, *args]


@pytest.mark.slow
def test_sigkill_then_resume_auto_matches_an_uninterrupted_twin(tmp_path: Path) -> None:
    env = {**os.environ, "GENLAB_ROOT": str(tmp_path), "WANDB_MODE": "offline"}
    twin, killed = twin_then_killed_and_resumed(
        lambda *args: _cli("trainer.max_epochs=6", *args, cwd=tmp_path), tmp_path, env)
    assert final_metrics(killed) == final_metrics(twin)
    assert (killed / "csv" / "metrics.csv").read_bytes() == \
        (twin / "csv" / "metrics.csv").read_bytes()
