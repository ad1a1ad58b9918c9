"""Tiny real runs for the resume / DDP / SLURM tests: deterministic CPU settings, digits,
checkpoints only, a few short epochs; and how the SLURM tests submit and watch them."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from genlab.config import config_dir

TINY_RUN = [
    "data=digits", "data.batch_size=32", "logger=csv", "callbacks=checkpoint",
    "model.iwae_samples=4", "trainer.accelerator=cpu", "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false", "trainer.deterministic=true", "seed=7",
    "+trainer.limit_train_batches=10", "+trainer.limit_val_batches=2",
    # the sample-quality suite, where present, is not what these tests are about
    *(["metrics=none"] if (config_dir() / "metrics" / "none.yaml").is_file() else []),
]


def final_metrics(run_dir: Path) -> dict[str, float]:
    return json.loads((run_dir / "metrics.json").read_text())["metrics"]


def twin_then_killed_and_resumed(cli, tmp_path: Path, env: dict) -> tuple[Path, Path]:
    """Runs `cli("run_id=twin")` to the end; starts `cli("run_id=killed", "resume=auto")`,
    SIGKILLs it as soon as its first last.ckpt exists (asserting it was killed before the
    end), then runs the same command again to resume. → the two run directories."""
    import torch

    runs = tmp_path / "logs" / "train" / "runs"
    twin = subprocess.run(cli("run_id=twin"), cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=900)
    assert twin.returncode == 0, twin.stderr[-3000:]

    cmd = cli("run_id=killed", "resume=auto")
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    last = runs / "killed" / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 600
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    killed_at = torch.load(last, weights_only=True)["epoch"]
    assert killed_at < 5 and not (runs / "killed" / "metrics.json").exists()

    resumed = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return runs / "twin", runs / "killed"


# --- on the local SLURM (slurm/local-cluster.sh) --------------------------------------------
SHIM_DIR = Path(os.environ.get("GENLAB_SLURM_DIR", "/tmp/genlab-slurm")) / "bin"
TESTS_DIR = Path(__file__).parent
# one CPU rank on each of two nodes (trainer=ddp_cpu has 2 devices on one node)
TWO_NODES = ["trainer.num_nodes=2", "trainer.devices=1"]


def slurm_environment() -> dict[str, str]:
    """The environment the tests submit from; skips (saying how to start one) without a
    usable SLURM."""
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


def up_nodes(env: dict) -> list[str]:
    """The nodes that are up (idle, or still busy with an earlier test's job)."""
    out = subprocess.run(["sinfo", "-h", "-N", "-t", "idle,mix,alloc,comp", "-o", "%N"],
                         capture_output=True, text=True, env=env, timeout=30).stdout
    return sorted(set(out.split()))


def with_tests_on_path(env: dict) -> dict:
    """env with tests/ on PYTHONPATH (a job can then take a test callback)."""
    path = os.pathsep.join(p for p in (str(TESTS_DIR), env.get("PYTHONPATH")) if p)
    return {**env, "PYTHONPATH": path}


def multirun(tmp_path: Path, env: dict, *overrides: str,
             base: tuple[str, ...] | list[str] = TINY_RUN) -> subprocess.Popen:
    """`genlab-train -m hydra/launcher=slurm trainer=ddp_cpu` of base + overrides, with
    the sweep in tmp_path/sweep."""
    cmd = [sys.executable, "-m", "genlab.train", "-m", "hydra/launcher=slurm",
           "trainer=ddp_cpu", *base, f"hydra.sweep.dir={tmp_path / 'sweep'}", *overrides]
    return subprocess.Popen(cmd, cwd=tmp_path,
                            env={**with_tests_on_path(env), "GENLAB_ROOT": str(tmp_path)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def job_ids(sweep: Path) -> list[str]:
    return sorted((p.parent.name for p in (sweep / ".submitit").glob("*/*_submitted.pkl")),
                  key=int)


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def log_times(run_dir: Path, marker: str) -> list[datetime]:
    """Timestamps of the job log's lines that contain `marker` (Hydra's log format)."""
    return [datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f")
            for line in (run_dir / "train.log").read_text().splitlines() if marker in line]


def rank_hosts(run_dir: Path) -> dict[int, tuple[str, int]]:
    """rank → (host, pid) from the rank table lines of the run's log (the newest start's)."""
    found = {}
    for line in (run_dir / "train.log").read_text().splitlines():
        hit = re.search(r"rank (\d+) of \d+ on host (\S+) \(.*pid (\d+)", line)
        if hit:
            found[int(hit[1])] = (hit[2], int(hit[3]))
    return found
