"""GAN resume twins: `dcgan_digits` with d_steps = 2, the generator EMA, a scheduler per
player and the metric suite on, killed with SIGKILL (then `resume=auto`) or preempted with
SIGUSR1 on the local SLURM (then requeued), ends exactly like an uninterrupted twin:
same final metrics and global_step (both optimisers, both schedulers, EMA and RNG state
restored; a resume that lost any of them drifts by far more than float noise)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cluster_runs import (
    final_metrics,
    job_ids,
    multirun,
    slurm_environment,
    twin_then_killed_and_resumed,
    wait_for,
)

GAN_RUN = [
    "experiment=dcgan_digits", "model.d_steps=2", "model.ema_decay=0.9",
    "model/scheduler=cosine", "model.generator.base_channels=8",
    "model.discriminator.base_channels=8", "data.batch_size=32", "logger=csv",
    "trainer.accelerator=cpu", "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false", "trainer.deterministic=true", "seed=7",
    "+trainer.limit_train_batches=9", "+trainer.limit_val_batches=2", "trainer.max_epochs=6",
    # the suite on, tiny, every epoch: the best checkpoint is chosen on its FID
    "metrics=default", "metrics.n_samples=200", "metrics.kid_subset_size=50",
    "metrics.kid_subsets=5", "metrics.every_n_epochs=1", "metrics.features.max_epochs=3",
]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "genlab.train", *GAN_RUN, *args]


def _global_step(run_dir: Path) -> int:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]


@pytest.mark.slow
def test_gan_killed_then_resumed_matches_an_uninterrupted_twin(tmp_path: Path) -> None:
    env = {**os.environ, "GENLAB_ROOT": str(tmp_path), "WANDB_MODE": "offline",
           "OMP_NUM_THREADS": "1"}
    twin, killed = twin_then_killed_and_resumed(_cli, tmp_path, env)
    metrics = final_metrics(killed)
    assert {"val/fid_classifier", "test/fid_classifier", "val/jsd_lower_bound"} <= set(metrics)
    assert metrics == final_metrics(twin)
    assert (killed / "csv" / "metrics.csv").read_bytes() == \
        (twin / "csv" / "metrics.csv").read_bytes()
    # 6 epochs × (9 D steps + 4 G steps): both players' steps count
    assert _global_step(killed) == _global_step(twin) == 6 * 13


@pytest.mark.slow
@pytest.mark.slurm
def test_gan_preempted_on_slurm_requeues_and_matches_an_uninterrupted_twin(tmp_path: Path,
                                                                          ) -> None:
    """Two jobs of 2 DDP ranks each on the local SLURM; USR1 to the second one: checkpoint,
    requeue, resume, and the same end as the first."""
    env = slurm_environment()
    proc = multirun(tmp_path, env, "run_name=twin,preempted", "trainer.max_epochs=8",
                    base=GAN_RUN)
    sweep = tmp_path / "sweep"
    wait_for(lambda: len(job_ids(sweep)) == 2, 300, "two submitted jobs")
    wait_for(lambda: (sweep / "1" / "checkpoints" / "last.ckpt").exists(), 600,
             "the first checkpoint")
    subprocess.run(["scancel", "--signal=USR1", job_ids(sweep)[1]], check=True, env=env)
    wait_for(lambda: (sweep / "1" / "hpc_ckpt_1.ckpt").exists(), 300, "the hpc checkpoint")
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-4000:]
    assert "written, requeueing the job" in (sweep / "1" / "train.log").read_text()
    assert final_metrics(sweep / "1") == final_metrics(sweep / "0")
    # the record too: the requeued run's CSV (rows after the preemption checkpoint replaced)
    # is the uninterrupted twin's, byte for byte (tests/test_run_record.py)
    assert (sweep / "1" / "csv" / "metrics.csv").read_bytes() == \
        (sweep / "0" / "csv" / "metrics.csv").read_bytes()
    # 8 epochs × (9 D + 4 G steps) per rank
    assert _global_step(sweep / "1") == _global_step(sweep / "0") == 8 * 13
