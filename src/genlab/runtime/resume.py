"""Continuing a run in its own directory: which checkpoint to resume from, and which W&B
run to continue.

A run directory is stable across SLURM requeues (`slurm-<job id>`) and across reruns with
`run_id=NAME` (genlab/config/naming.py), so everything needed to continue lives in it
(genlab/run_dir.py): `hpc_ckpt_N.ckpt` (written on preemption), `checkpoints/*.ckpt`
(ModelCheckpoint) and `wandb_run_id` (the W&B run this directory logs to).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from genlab import run_dir
from genlab.config.choices import RESUME_MODES
from genlab.errors import ConfigError
from genlab.run_dir import last_checkpoint


def resume_checkpoint(cfg: DictConfig, output_dir: Path) -> str | None:
    """The checkpoint fit starts from: `ckpt_path` when set, else with `resume=auto` the
    newest checkpoint in the run directory (None: start fresh)."""
    resume = cfg.get("resume")
    if resume is not None and resume not in RESUME_MODES:
        raise ConfigError("resume", resume, " | ".join(("null", *RESUME_MODES)),
                          "To start from a given file use ckpt_path=PATH.")
    if cfg.get("ckpt_path") or resume != "auto":
        return cfg.get("ckpt_path")
    last = last_checkpoint(output_dir)
    return str(last) if last else None


def wandb_run_continued(logger_cfg: DictConfig | None, output_dir: Path) -> Any:
    """The logger config with the W&B logger pinned to this run directory's W&B run.

    The first process to log from `output_dir` records the run id in `wandb_run_id`; a
    requeued or resumed run reads it and resumes that run (`resume="allow"`), so a job has
    one W&B run however often it restarts. Call on rank 0 only (it writes the file).
    """
    if not logger_cfg:
        return logger_cfg
    cfg = OmegaConf.create(OmegaConf.to_container(logger_cfg, resolve=True))
    for node in cfg.values():
        if not (node and str(node.get("_target_", "")).endswith("WandbLogger")):
            continue
        if node.get("id") is None:
            node.id = _persistent_id(output_dir)
        node.resume = "allow"
    return cfg


def _persistent_id(output_dir: Path) -> str:
    path = output_dir / run_dir.WANDB_ID
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    run_id = secrets.token_hex(4)  # W&B ids: lowercase letters and digits
    run_dir.write_text(path, run_id + "\n")
    return run_id
