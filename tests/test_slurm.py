"""On a real SLURM (slurm/local-cluster.sh): a Hydra multirun through hydra/launcher=slurm
whose jobs are 2-rank DDP fits, preemption with requeue and exact resume, and a cancelled
job that fails the multirun instead of hanging."""

from __future__ import annotations

import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cluster_runs import (
    TINY_RUN,
    TWO_NODES,
    final_metrics,
    job_ids,
    log_times,
    multirun,
    rank_hosts,
    slurm_environment,
    up_nodes,
    wait_for,
)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


@pytest.fixture(scope="module")
def slurm_env() -> dict[str, str]:
    return slurm_environment()


@pytest.fixture(params=["one_node", "two_nodes"])
def layout(request, slurm_env: dict) -> list[str]:
    """Where a job's 2 ranks run: both on one node, or one on each of two nodes (needs
    `slurm/local-cluster.sh start --nodes 2`)."""
    if request.param == "one_node":
        return []
    if len(up_nodes(slurm_env)) < 2:
        pytest.skip("one node: start two with `sudo slurm/local-cluster.sh start --nodes 2`")
    return TWO_NODES


def test_sweep_runs_one_ddp_job_per_setting(tmp_path: Path, slurm_env: dict) -> None:
    proc = multirun(tmp_path, slurm_env, "trainer.max_epochs=2", "model.latent_dim=2,4")
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-4000:]
    sweep = tmp_path / "sweep"
    assert sorted(p.name for p in sweep.iterdir() if p.name.isdigit()) == ["0", "1"]
    for num, job in zip(("0", "1"), job_ids(sweep), strict=True):
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
                                                                  slurm_env: dict,
                                                                  layout: list[str]) -> None:
    """Two ranks on one node, or one on each of two nodes: USR1 reaches every rank (scancel
    signals all steps' tasks), they checkpoint together, the job requeues and resumes."""
    # paced (0.1 s a batch, 8 s a fit): unpaced the fit takes ~1 s, and under CI's load
    # the signal once reached the job only in its last epoch
    proc = multirun(tmp_path, slurm_env, "trainer.max_epochs=8", "logger=wandb",
                    "run_name=twin,preempted", "+callbacks.pace={_target_:faults.Pace,"
                    "seconds:0.1}", *layout)
    sweep = tmp_path / "sweep"
    wait_for(lambda: len(job_ids(sweep)) == 2, 300, "two submitted jobs")
    job = job_ids(sweep)[1]
    wait_for(lambda: (sweep / "1" / "checkpoints" / "last.ckpt").exists(), 600,
             "the first checkpoint")
    t_signal = time.monotonic()
    subprocess.run(["scancel", "--signal=USR1", job], check=True, env=slurm_env)
    wait_for(lambda: (sweep / "1" / "hpc_ckpt_1.ckpt").exists(), 300, "the hpc checkpoint")
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-4000:]
    print(f"signal to finish after requeue: {time.monotonic() - t_signal:.1f}s")
    # from the job log: the requeue, then the requeued job's ranks setting up to resume
    requeued = log_times(sweep / "1", "written, requeueing the job")
    setups = log_times(sweep / "1", "SLURMEnvironment: job")
    assert len(requeued) == 2 and len(setups) == 4  # both ranks, before and after
    resumed = min(t for t in setups if t > max(requeued))
    print(f"requeue to resumed setup: {(resumed - max(requeued)).total_seconds():.1f}s")

    assert final_metrics(sweep / "1") == final_metrics(sweep / "0")
    hosts = {host for host, _ in rank_hosts(sweep / "1").values()}
    assert len(hosts) == (2 if layout else 1), hosts
    run_id = (sweep / "1" / "wandb_run_id").read_text().strip()
    offline = sorted((sweep / "1" / "wandb").glob("offline-run-*"))
    assert len(offline) == 2, "one W&B run dir before the requeue and one after"
    assert all(p.name.endswith(f"-{run_id}") for p in offline)
    assert len(list((sweep / "0" / "wandb").glob("offline-run-*"))) == 1


def test_cancelled_job_fails_the_multirun_in_bounded_time(tmp_path: Path,
                                                          slurm_env: dict) -> None:
    proc = multirun(tmp_path, slurm_env, "trainer.max_epochs=1000")
    sweep = tmp_path / "sweep"
    try:
        wait_for(lambda: len(job_ids(sweep)) == 1, 300, "the submitted job")
        wait_for(lambda: (sweep / "0" / "config_resolved.yaml").exists(), 600,
                 "the job to start")
        subprocess.run(["scancel", job_ids(sweep)[0]], check=True, env=slurm_env)
        out, _ = proc.communicate(timeout=300)
    finally:
        proc.kill()
        for job in job_ids(sweep):
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
