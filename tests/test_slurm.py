"""On a real SLURM (slurm/local-cluster.sh): a Hydra multirun through hydra/launcher=slurm
whose jobs are 2-rank DDP fits, preemption with requeue and exact resume, and a cancelled
job that fails the multirun instead of hanging."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from cluster_runs import TINY_RUN, final_metrics

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

SHIM_DIR = Path(os.environ.get("GENLAB_SLURM_DIR", "/tmp/genlab-slurm")) / "bin"


@pytest.fixture(scope="module")
def slurm_env() -> dict[str, str]:
    if shutil.which("sbatch") is None:
        pytest.skip("no SLURM here: start one with `sudo slurm/local-cluster.sh start`")
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30)
    if "UP" not in ping.stdout:
        pytest.skip("slurmctld is not up: start it with `sudo slurm/local-cluster.sh start`")
    if not (SHIM_DIR / "sacct").exists() and shutil.which("sacct") is None:
        pytest.skip(f"no sacct (nor the stand-in in {SHIM_DIR}): run slurm/local-cluster.sh")
    return {**os.environ, "PATH": f"{SHIM_DIR}:{os.environ['PATH']}", "WANDB_MODE": "offline",
            # a stale MASTER_PORT, as in-process DDP tests (or a user's shell) leave behind:
            # the launcher's setup line must keep it out of the jobs, or concurrent jobs
            # collide on one rendezvous port
            "MASTER_PORT": "29555",
            "WANDB_SILENT": "true"}


def _multirun(tmp_path: Path, env: dict, *overrides: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "genlab.train", "-m", "hydra/launcher=slurm",
           "trainer=ddp_cpu", *TINY_RUN, f"hydra.sweep.dir={tmp_path / 'sweep'}", *overrides]
    return subprocess.Popen(cmd, cwd=tmp_path, env={**env, "GENLAB_ROOT": str(tmp_path)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _job_ids(sweep: Path) -> list[str]:
    return sorted(p.parent.name for p in (sweep / ".submitit").glob("*/*_submitted.pkl"))


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_sweep_runs_one_ddp_job_per_setting(tmp_path: Path, slurm_env: dict) -> None:
    proc = _multirun(tmp_path, slurm_env, "trainer.max_epochs=2", "model.latent_dim=2,4")
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-4000:]
    sweep = tmp_path / "sweep"
    assert sorted(p.name for p in sweep.iterdir() if p.name.isdigit()) == ["0", "1"]
    for num, job in zip(("0", "1"), _job_ids(sweep), strict=True):
        run_dir = sweep / num
        assert final_metrics(run_dir)["val/elbo"] < 0
        # the value the job returned to the multirun is the run's optimized metric
        status, ret = pickle.loads((sweep / ".submitit" / job / f"{job}_0_result.pkl")
                                   .read_bytes())
        assert status == "success" and ret.return_value == pytest.approx(
            float(final_metrics(run_dir)["val/elbo"]), abs=1e-3)
        log = (run_dir / "train.log").read_text()
        assert "SLURMEnvironment: job" in log and "rank 0 of 2" in log and "rank 1 of 2" in log
        assert not (tmp_path / "logs").exists()  # nothing outside the sweep dir


def test_preempted_job_requeues_and_matches_an_uninterrupted_twin(tmp_path: Path,
                                                                  slurm_env: dict) -> None:
    proc = _multirun(tmp_path, slurm_env, "trainer.max_epochs=8", "logger=wandb",
                     "run_name=twin,preempted")
    sweep = tmp_path / "sweep"
    _wait_for(lambda: len(_job_ids(sweep)) == 2, 300, "two submitted jobs")
    job = _job_ids(sweep)[1]
    _wait_for(lambda: (sweep / "1" / "checkpoints" / "last.ckpt").exists(), 600,
              "the first checkpoint")
    t_signal = time.monotonic()
    subprocess.run(["scancel", "--signal=USR1", job], check=True, env=slurm_env)
    _wait_for(lambda: (sweep / "1" / "hpc_ckpt_1.ckpt").exists(), 300, "the hpc checkpoint")
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-4000:]
    print(f"signal to finish after requeue: {time.monotonic() - t_signal:.1f}s")
    # from the job log: the requeue, then the requeued job's ranks setting up to resume
    requeued = _log_times(sweep / "1", "written, job requeued")
    setups = _log_times(sweep / "1", "SLURMEnvironment: job")
    assert len(requeued) == 2 and len(setups) == 4  # both ranks, before and after
    resumed = min(t for t in setups if t > max(requeued))
    print(f"requeue to resumed setup: {(resumed - max(requeued)).total_seconds():.1f}s")

    assert final_metrics(sweep / "1") == final_metrics(sweep / "0")
    run_id = (sweep / "1" / "wandb_run_id").read_text().strip()
    offline = sorted((sweep / "1" / "wandb").glob("offline-run-*"))
    assert len(offline) == 2, "one W&B run dir before the requeue and one after"
    assert all(p.name.endswith(f"-{run_id}") for p in offline)
    assert len(list((sweep / "0" / "wandb").glob("offline-run-*"))) == 1


def _log_times(run_dir: Path, marker: str) -> list[datetime]:
    """Timestamps of the job log's lines that contain `marker` (Hydra's log format)."""
    return [datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")
            for line in (run_dir / "train.log").read_text().splitlines() if marker in line]


def test_cancelled_job_fails_the_multirun_in_bounded_time(tmp_path: Path,
                                                          slurm_env: dict) -> None:
    proc = _multirun(tmp_path, slurm_env, "trainer.max_epochs=1000")
    sweep = tmp_path / "sweep"
    try:
        _wait_for(lambda: len(_job_ids(sweep)) == 1, 300, "the submitted job")
        _wait_for(lambda: (sweep / "0" / "config_resolved.yaml").exists(), 600,
                  "the job to start")
        subprocess.run(["scancel", _job_ids(sweep)[0]], check=True, env=slurm_env)
        out, _ = proc.communicate(timeout=300)
    finally:
        proc.kill()
        for job in _job_ids(sweep):
            subprocess.run(["scancel", job], env=slurm_env)
    assert proc.returncode != 0
    assert "CANCELLED" in out and ".submitit" in out  # the state and where its log is


def test_sbatch_template_runs_a_two_rank_job(tmp_path: Path, slurm_env: dict) -> None:
    """slurm/train.sbatch as a user submits it (its GPU lines overridden for this CPU
    cluster): srun starts both ranks, which share one run dir named after the job."""
    root = Path(__file__).resolve().parents[1]
    venv = Path(sys.executable).parent.parent
    env = {**slurm_env, "GENLAB_ROOT": str(tmp_path), "GENLAB_TRAINER": "ddp_cpu",
           "GENLAB_VENV": str(venv)}
    env.pop("MASTER_PORT")  # what a user's login shell has: none
    cmd = ["sbatch", "--wait", "--ntasks-per-node=2", "--gpus-per-node=0", "--cpus-per-task=1",
           "--time=10", f"--output={tmp_path / 'slurm-%j.out'}",
           str(root / "slurm" / "train.sbatch"), *TINY_RUN, "trainer.max_epochs=2"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    job = proc.stdout.split()[-1] if proc.stdout.strip() else "?"
    log = next(tmp_path.glob("slurm-*.out"), None)
    assert proc.returncode == 0, proc.stderr + (log.read_text()[-4000:] if log else "")
    runs = sorted((tmp_path / "logs" / "train" / "runs").iterdir())
    assert [r.name for r in runs] == [f"slurm-{job}"]  # one dir for both ranks
    train_log = (runs[0] / "train.log").read_text()
    assert "rank 0 of 2" in train_log and "rank 1 of 2" in train_log
    assert final_metrics(runs[0])["val/elbo"] < 0
