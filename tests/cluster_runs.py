"""Tiny real runs for the resume / DDP / SLURM tests: deterministic CPU settings, digits,
checkpoints only, a few short epochs."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

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
