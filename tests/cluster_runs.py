"""Tiny real runs for the resume / DDP / SLURM tests: deterministic CPU settings, digits,
checkpoints only, a few short epochs."""

from __future__ import annotations

import json
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
