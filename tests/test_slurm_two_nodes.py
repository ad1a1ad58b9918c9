"""Two nodes of the local SLURM (`slurm/local-cluster.sh start --nodes 2`: each slurmd in
its own network and UTS namespace, hostnames genlab-n1 and genlab-n2), one CPU rank on each,
gloo over the script's bridge:

- through both doors (a Hydra multirun with hydra/launcher=slurm, and slurm/train.sbatch)
  a 2-node job trains batch for batch like one process at the global batch (the replay of
  tests/test_ddp_models.py), its validation metrics, reduced over both nodes, equal the
  replay's, and it has one run directory, one W&B run and one CSV, written by rank 0, with
  each rank's host in its log;
- a rank killed mid-run fails the job at once, naming the rank and its host; the same
  command again with resume=auto continues and ends exactly as an uninterrupted twin;
- a node's power lost (every process in its namespace killed) fails the surviving rank at
  once, naming the lost one; SLURM declares the node failed (SlurmdTimeout=30 s) and
  requeues the job, which continues (resume=auto) when the node is back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

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
    with_tests_on_path,
)
from test_ddp_models import STEPS, TOL, assert_same, replay_one_process

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "slurm" / "local-cluster.sh"
HOSTS = {"genlab-n1", "genlab-n2"}
# the conv VAE of tests/test_ddp_models.py (SGD: a wrongly scaled gradient shows), STEPS
# training batches of 16 per rank, then one validation batch per rank
VAE_RUN = [
    "seed=7", "optimized_metric=null", "trainer.accelerator=cpu", "trainer.max_epochs=1",
    f"+trainer.limit_train_batches={STEPS}", "+trainer.limit_val_batches=1",
    "+trainer.num_sanity_val_steps=0", "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false", "+trainer.enable_checkpointing=false",
    "callbacks=none", "metrics=none", "test=false",
    "data=digits", "data.batch_size=16", "model=conv_vae", "model.latent_dim=4",
    "model.binarize=false", "model.iwae_samples=0", "model/optimizer=sgd",
    "model.encoder.channels=[4,8]", "model.decoder.channels=[4,8]",
]
# rank-0-only console output: genlab/cli/train.py prints the run header where it saves the
# config, and the closing paragraph after the final record
RANK0_LINES = ("(print_config=true prints it)", "genlab: done in")


@pytest.fixture(scope="module")
def two_nodes() -> dict[str, str]:
    env = slurm_environment()
    if len(up_nodes(env)) < 2:
        pytest.skip("one node: start two with `sudo slurm/local-cluster.sh start --nodes 2`")
    return env


def cluster(*args: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("failing and restoring a node needs root (slurm/local-cluster.sh)")
    subprocess.run(["bash", str(CLUSTER), *args], check=True, timeout=120)


def job_state(job: str, env: dict) -> str:
    return subprocess.run(["squeue", "-h", "--states=all", "-j", job, "-o", "%T"],
                          capture_output=True, text=True, env=env, timeout=30).stdout.strip()


def through_multirun(tmp_path: Path, env: dict, *overrides: str) -> tuple[Path, str]:
    """→ the run dir of a one-job 2-node multirun, and both ranks' console output."""
    proc = multirun(tmp_path, env, *TWO_NODES, *overrides, base=())
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-4000:]
    sweep = tmp_path / "sweep"
    (job,) = job_ids(sweep)
    return sweep / "0", "".join((sweep / ".submitit" / job / f"{job}_{rank}_log.out").read_text()
                                for rank in (0, 1))


def sbatch(tmp_path: Path, env: dict, *overrides: str, wait: bool = True) -> subprocess.Popen:
    """slurm/train.sbatch on 2 nodes, as a user submits it (GPU lines overridden)."""
    env = {**with_tests_on_path(env), "GENLAB_ROOT": str(tmp_path), "GENLAB_TRAINER": "ddp_cpu",
           "GENLAB_VENV": str(Path(sys.executable).parent.parent)}
    env.pop("MASTER_PORT")  # what a user's login shell has: none
    cmd = ["sbatch", *(["--wait"] if wait else ["--parsable"]), "--nodes=2",
           "--ntasks-per-node=1", "--gpus-per-node=0", "--cpus-per-task=1", "--time=10",
           f"--output={tmp_path / 'slurm-%j.out'}", str(ROOT / "slurm" / "train.sbatch"),
           *overrides]
    return subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def through_sbatch(tmp_path: Path, env: dict, *overrides: str) -> tuple[Path, str]:
    """→ the run dir of a 2-node sbatch job, and its output (srun merges the ranks')."""
    proc = sbatch(tmp_path, env, *overrides)
    out, err = proc.communicate(timeout=900)
    log = next(tmp_path.glob("slurm-*.out"), None)
    assert proc.returncode == 0, err + (log.read_text()[-4000:] if log else "")
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    assert run_dir.name == f"slurm-{out.split()[-1]}"
    return run_dir, log.read_text()


def test_nodes_have_their_own_names_addresses_and_no_route_out(two_nodes: dict) -> None:
    """A job step on both nodes: each task sees its node's hostname, one address on the
    script's /24 and no default route. Rules out nodes that are this host under another
    name (one network namespace: the host's addresses and routes) and namespaces whose
    traffic could leave the bridge."""
    net = os.environ.get("GENLAB_SLURM_NET", "10.213.77")
    done = subprocess.run(["srun", "-N2", "--ntasks-per-node=1", "--label", "sh", "-c",
                           "hostname; ip -4 -o addr show scope global; ip route show default"],
                          capture_output=True, text=True, env=two_nodes, timeout=120,
                          cwd="/tmp")
    assert done.returncode == 0, done.stderr
    tasks: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        task, _, text = line.partition(": ")
        tasks.setdefault(task.strip(), []).append(text)
    assert {lines[0] for lines in tasks.values()} == HOSTS, tasks
    addresses = set()
    for lines in tasks.values():
        (addr_line,) = lines[1:]  # one global address, and no default route line
        addresses.add(addr_line.split()[3])
        assert addr_line.split()[3].startswith(f"{net}."), addr_line
    assert len(addresses) == 2


@pytest.mark.parametrize("door", ["multirun", "sbatch"])
def test_two_node_job_trains_like_one_process(door: str, two_nodes: dict, tmp_path: Path,
                                              compose_cfg, monkeypatch) -> None:
    """Rules out: ranks on one host (the namespaces not used), ranks that never all-reduce
    or sum instead of average (replay, test_ddp_models.py), node 2's local rank 0 taking
    itself for rank 0 (LOCAL_RANK-only check: a second W&B run, CSV or config tree),
    validation metrics of one node's half only (val/elbo off the replay's)."""
    probe = tmp_path / "probe"
    job = [*VAE_RUN, "logger=wandb", "+callbacks.probe._target_=ddp_probe.StepProbe",
           f"+callbacks.probe.path={probe}", f"+callbacks.probe.steps={STEPS}"]
    go = through_multirun if door == "multirun" else through_sbatch
    (tmp_path / "job").mkdir()
    run_dir, console = go(tmp_path / "job", two_nodes, *job)

    hosts = rank_hosts(run_dir)
    assert sorted(hosts) == [0, 1] and {h for h, _ in hosts.values()} == HOSTS, hosts
    records = [torch.load(probe / f"rank{r}.pt", weights_only=True) for r in range(2)]
    names = records[0]["names"]
    for k in range(STEPS):  # both nodes hold the same model after every step
        assert_same(records[1]["params"][k], records[0]["params"][k], names, f"step {k}", 0.0)
    ref, ref_metrics = replay_one_process(compose_cfg, monkeypatch, VAE_RUN, records,
                                          tmp_path / "replay")
    worst = max(assert_same(records[0]["params"][k], ref["params"][k], names, f"step {k}", TOL)
                for k in range(STEPS))
    two = final_metrics(run_dir)
    for key in ("val/elbo", "val/recon", "val/kl"):
        # measured: equal to 1e-7 relative (a mean of 32 vs the mean of two means of 16)
        assert two[key] == pytest.approx(ref_metrics[key], rel=1e-5), key
    print(f"{door}: 2 nodes vs one process: parameters {worst:.1e} apart, val/elbo "
          f"{two['val/elbo']:.6f} vs {ref_metrics['val/elbo']:.6f}")

    # one W&B run, one CSV, and nothing from rank 1
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 1
    assert sorted(p.name for p in (run_dir / "csv").iterdir()) == ["hparams.yaml",
                                                                   "metrics.csv"]
    assert not list(run_dir.glob("**/*version_1*"))
    for line in RANK0_LINES:  # printed (and config_resolved.yaml saved) once
        assert console.count(line) == 1, line


def test_killed_rank_fails_the_job_naming_it_and_resume_auto_continues(
        two_nodes: dict, tmp_path: Path) -> None:
    """Rank 1 (node genlab-n2) SIGKILLed mid-run: rank 0's collective fails at once (gloo:
    connection reset), the trial fails with genlab's RankLostError naming rank 1 and its
    host, and the multirun ends non-zero (enforced bound: 120 s from the kill; measured
    well under a second to the error). The same command again (resume=auto) continues the
    victim from its last.ckpt and it ends exactly as its uninterrupted twin. Rules out a
    surviving rank left waiting on the strategy's 5-minute timeout, a raw gloo message
    that names an address, and resume=auto restarting from scratch."""
    args = [*TWO_NODES, "trainer.max_epochs=40", "logger=wandb", "resume=auto",
            "run_name=twin,victim"]
    proc = multirun(tmp_path, two_nodes, *args)
    sweep, victim = tmp_path / "sweep", tmp_path / "sweep" / "1"
    try:
        wait_for(lambda: (victim / "checkpoints" / "last.ckpt").exists(), 600,
                 "the victim's first checkpoint")
        host, pid = rank_hosts(victim)[1]
        t_kill = time.monotonic()
        os.kill(pid, signal.SIGKILL)  # (the pid is the same in every network namespace)
        wait_for(lambda: (victim / "failure.json").exists(), 120, "the victim's failure")
        print(f"kill to recorded failure: {time.monotonic() - t_kill:.1f}s")
        out, _ = proc.communicate(timeout=600)
    finally:
        proc.kill()
    assert proc.returncode != 0
    reason = (victim / "failure.json").read_text()
    assert "RankLostError" in reason and f"rank 1 (host {host}" in reason, reason
    assert host == "genlab-n2" and "resume=auto" in reason
    twin = final_metrics(sweep / "0")

    again = multirun(tmp_path, two_nodes, *args)  # the same command, as the error says
    out, _ = again.communicate(timeout=900)
    assert again.returncode == 0, out[-4000:]
    assert "Restoring states from the checkpoint path at" in (victim / "train.log").read_text()
    assert final_metrics(victim) == twin
    run_id = (victim / "wandb_run_id").read_text().strip()
    assert all(p.name.endswith(run_id) for p in (victim / "wandb").glob("offline-run-*"))


def test_lost_node_fails_its_peer_and_the_requeued_job_resumes(two_nodes: dict,
                                                               tmp_path: Path) -> None:
    """genlab-n2 loses power mid-run (`local-cluster.sh fail-node`: its slurmd, slurmstepd
    and rank killed at once). Rank 0 fails at once naming rank 1 on genlab-n2; SLURM marks
    the node failed after SlurmdTimeout (30 s; enforced bound here 180 s) and requeues the
    job (train.sbatch's --requeue); once the node is back (`restore-node`) the requeued
    job, started with resume=auto, continues from last.ckpt in the same run directory and
    finishes. Rules out a rank that hangs on its dead peer (srun would then wait for it)
    and a requeued job that starts over."""
    proc = sbatch(tmp_path, two_nodes, *TINY_RUN, "trainer.max_epochs=40", "resume=auto",
                  wait=False)
    job = proc.communicate(timeout=60)[0].strip()
    run_dir = tmp_path / "logs" / "train" / "runs" / f"slurm-{job}"
    log = tmp_path / f"slurm-{job}.out"
    try:
        wait_for(lambda: (run_dir / "checkpoints" / "last.ckpt").exists(), 600,
                 "the first checkpoint")
        t_fail = time.monotonic()
        cluster("fail-node", "genlab-n2")
        wait_for(lambda: "RankLostError" in log.read_text() or "was lost" in log.read_text(),
                 60, "rank 0's error")
        print(f"node lost to rank 0's error: {time.monotonic() - t_fail:.1f}s")
        # srun's "Node failure on genlab-n2" (slurmstepd's "CANCELLED ... DUE TO NODE
        # FAILURE" may be cut off by the requeue)
        wait_for(lambda: "node failure" in log.read_text().lower(), 180,
                 "SLURM's node failure")
        print(f"node lost to the job ended by SLURM: {time.monotonic() - t_fail:.1f}s")
        cluster("restore-node", "genlab-n2")
        wait_for(lambda: job_state(job, two_nodes) in ("COMPLETED", "FAILED"), 600,
                 "the requeued job's end")
    finally:
        subprocess.run(["scancel", job], env=two_nodes)
        if "genlab-n2" not in up_nodes(two_nodes):
            cluster("restore-node", "genlab-n2")
    text = log.read_text()
    assert job_state(job, two_nodes) == "COMPLETED", text[-3000:]
    assert "rank 1 (host genlab-n2" in text, text[-3000:]
    resumed = log_times(run_dir, "Restoring states from the checkpoint path at")
    assert resumed, "the requeued job did not resume from a checkpoint"
    assert final_metrics(run_dir)["val/elbo"] < 0
