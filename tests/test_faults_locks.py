"""One run directory, one writer (issue 24 item 4): a second run on the same `run_id`, or
a second sweep on the same `sweep.name`, is refused at once naming the holder, and leaves
the directory as it was; a lock left by a dead process is taken over with a warning."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli
from genlab import run_dir
from genlab.errors import RunDirLockedError
from genlab.runtime import run_lock
from genlab.runtime.run_lock import DirLock, StaleLockWarning, holding

TINY = ["logger=csv", "metrics=none", "trainer.enable_progress_bar=false",
        "model.iwae_samples=2", "+trainer.limit_train_batches=4", "+trainer.limit_val_batches=1"]


def _digests(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def _write_lock(directory: Path, **fields) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    holder = {"host": os.uname().nodename, "pid": os.getpid(), "started": "2026-01-01T00:00:00",
              "proc_start": None, "job": None, **fields}
    path = directory / run_dir.LOCK
    path.write_text(json.dumps(holder))
    return path


def test_a_second_run_on_a_running_run_id_is_refused_and_changes_nothing(
        tmp_path: Path) -> None:
    """A real first run, still training, and the same command again. Rules out: locking
    only inside the task (Hydra would already have rewritten .hydra/ and the log), a lock
    that names no holder, and a lock that outlives its run."""
    env = {**os.environ, "WANDB_MODE": "offline", "GENLAB_ROOT": str(tmp_path)}
    cmd = [sys.executable, "-m", "genlab.train", *TINY, "run_id=twice", "trainer.max_epochs=500"]
    first = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    run = tmp_path / "logs" / "train" / "runs" / "twice"
    try:
        deadline = time.monotonic() + 300
        while not (run / "checkpoints" / "last.ckpt").exists():
            assert first.poll() is None and time.monotonic() < deadline, "first run ended"
            time.sleep(0.1)
        first.send_signal(signal.SIGSTOP)  # hold it still while we look
        before = _digests(run)
        second = run_cli(*TINY, "run_id=twice", "trainer.max_epochs=2", cwd=tmp_path)
        after = _digests(run)
        first.send_signal(signal.SIGCONT)
    finally:
        first.send_signal(signal.SIGINT)
        _, first_err = first.communicate(timeout=300)
    assert second.returncode == 1, second.stderr[-2000:]
    assert "Traceback" not in second.stderr
    assert f"error: Run directory {run} is in use by another genlab process (host " \
           f"{os.uname().nodename}, pid {first.pid}, started " in second.stderr
    assert "choose another `run_id`" in second.stderr
    assert after == before
    assert first.returncode == 130, first_err[-2000:]
    assert not (run / run_dir.LOCK).exists()


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    """A lock file whose pid is gone (the run was kill -9ed). Rules out: refusing forever
    after a crash, and taking over silently."""
    run = tmp_path / "logs" / "train" / "runs" / "crashed"
    _write_lock(run, pid=_dead_pid())
    proc = run_cli(*TINY, "run_id=crashed", "trainer.max_epochs=1", "test=false", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"Run directory {run} was locked, but its process is gone" in proc.stderr
    assert "lock taken over" in proc.stderr
    assert (run / "metrics.json").is_file() and not (run / run_dir.LOCK).exists()


def test_a_second_sweep_on_a_running_sweep_name_is_refused(tmp_path: Path) -> None:
    """The sweep's lock held by a live process (this one). Rules out: a sweep lock that is
    never taken, or one taken after Hydra has written multirun.yaml."""
    sweep = tmp_path / "logs" / "train" / "multiruns" / "grid"
    with holding(sweep, "sweep"):
        proc = run_cli("-m", *TINY, "sweep.name=grid", "seed=1,2", "trainer.max_epochs=1",
                       cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert f"Sweep directory {sweep} is in use by another genlab process (host" in proc.stderr
    assert f"pid {os.getpid()}" in proc.stderr and "choose another `sweep.name`" in proc.stderr
    assert sorted(p.name for p in sweep.iterdir()) == []  # its lock is gone with the block


def test_same_host_rules(tmp_path: Path) -> None:
    """Rules out: trusting a bare pid (a reused pid belongs to another process now), and
    taking over a lock whose holder is alive."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / "live"
        _write_lock(live, pid=sleeper.pid, proc_start=run_lock._proc_start(sleeper.pid))
        with pytest.raises(RunDirLockedError, match=f"pid {sleeper.pid}"):
            DirLock(live).acquire()
        reused = tmp_path / "reused"
        _write_lock(reused, pid=sleeper.pid, proc_start="1")
        lock = DirLock(reused)
        with pytest.warns(StaleLockWarning, match="pid now belongs to another process"):
            lock.acquire()
        lock.release()
        assert not (reused / run_dir.LOCK).exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_another_hosts_lock_is_stale_only_without_a_heartbeat(tmp_path: Path) -> None:
    """Rules out: checking another host's pid on this host (it means nothing here), and
    taking over a lock whose holder still touches it."""
    path = _write_lock(tmp_path / "run", host="node-elsewhere", pid=1)
    with pytest.raises(RunDirLockedError, match="host node-elsewhere, pid 1"):
        DirLock(tmp_path / "run").acquire()
    old = time.time() - run_lock.STALE_AFTER_S - 60
    os.utime(path, (old, old))
    lock = DirLock(tmp_path / "run")
    with pytest.warns(StaleLockWarning, match="has not touched it for"):
        lock.acquire()
    lock.release()


def test_a_requeued_slurm_job_takes_over_its_own_lock(tmp_path: Path, monkeypatch) -> None:
    """Same job id → same run directory (slurm-<job id>); the requeued job may land on
    another node while the old lock is fresh. Rules out: a requeue refused by its own
    previous run's lock for STALE_AFTER_S."""
    _write_lock(tmp_path / "run", host="node-a", job="slurm-4242")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    lock = DirLock(tmp_path / "run")
    with pytest.warns(StaleLockWarning, match="this SLURM job's previous run"):
        lock.acquire()
    assert json.loads((tmp_path / "run" / run_dir.LOCK).read_text())["job"] == "slurm-4242"
    lock.release()
    monkeypatch.setenv("SLURM_JOB_ID", "4243")  # another job: refused
    _write_lock(tmp_path / "run", host="node-a", job="slurm-4242")
    with pytest.raises(RunDirLockedError, match="SLURM job 4242"):
        DirLock(tmp_path / "run").acquire()


def test_only_rank_zero_takes_the_lock(tmp_path: Path, monkeypatch) -> None:
    """Rules out: every DDP rank locking the one run directory (rank 1 would be refused by
    rank 0's lock)."""
    from genlab.cli.train import _run_dir_held

    monkeypatch.setenv("RANK", "1")
    with _run_dir_held(tmp_path):
        assert not (tmp_path / run_dir.LOCK).exists()
    monkeypatch.setenv("RANK", "0")
    with _run_dir_held(tmp_path), _run_dir_held(tmp_path):  # reentrant
        assert (tmp_path / run_dir.LOCK).exists()
    assert not (tmp_path / run_dir.LOCK).exists()
