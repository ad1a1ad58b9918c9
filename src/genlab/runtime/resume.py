"""How a run starts: fresh, continuing a run in its own directory (full training state), or
as a child run from another run's weights; and which W&B run a run directory continues.

A run directory is stable across SLURM requeues (`slurm-<job id>`) and across reruns with
`run_id=NAME` (genlab/config/naming.py), so everything needed to continue lives in it
(genlab/run_dir.py): `hpc_ckpt_N.ckpt` (written on preemption), `checkpoints/*.ckpt`
(ModelCheckpoint) and `wandb_run_id` (the W&B run this directory logs to).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from genlab import run_dir
from genlab.config.choices import RESUME_MODES
from genlab.config.continuation import has_run_record, is_continuation
from genlab.errors import ConfigError
from genlab.run_dir import last_checkpoint
from genlab.runtime.history import ResumePoint, resume_point


def resume_checkpoint(cfg: DictConfig, output_dir: Path) -> str | None:
    """The checkpoint the run starts from: with `resume=auto` the newest checkpoint in the
    run directory when it has one (a rerun or requeue continues its own run), else
    `ckpt_path` (None: start fresh)."""
    resume = cfg.get("resume")
    if resume is not None and resume not in RESUME_MODES:
        raise ConfigError("resume", resume, " | ".join(("null", *RESUME_MODES)),
                          "To start from a given file use ckpt_path=PATH.")
    last = last_checkpoint(output_dir) if resume == "auto" else None
    return str(last) if last else cfg.get("ckpt_path") or slurm_requeue_checkpoint(output_dir)


def slurm_requeue_checkpoint(output_dir: Path) -> str | None:
    """Inside a SLURM job with no checkpoint asked for, the run directory's newest
    `hpc_ckpt_N.ckpt` (a requeued job's preemption checkpoint): what Lightning would resume
    from by itself (`ckpt_path="hpc"`). Named here, so the run knows it continues (its
    history is kept, not restarted)."""
    from lightning.fabric.plugins.environments import SLURMEnvironment

    if not SLURMEnvironment.detect():
        return None
    found = [(int(v), p) for p in output_dir.glob(run_dir.HPC_CHECKPOINTS)
             if (v := p.stem.rsplit("_", 1)[-1]).isdigit()]
    return str(max(found)[1]) if found else None


@dataclass(frozen=True)
class Start:
    """How fit starts. `ckpt_path` None: fresh. `in_place`: the full training state is
    restored (the run continues; its history continues at `at` when the checkpoint belongs
    to this run directory); else a child run starts from the checkpoint's weights only."""

    ckpt_path: str | None = None
    checkpoint: dict | None = None
    in_place: bool = False
    at: ResumePoint | None = None

    def describe(self, output_dir: Path) -> str | None:
        """The one line saying which kind of start this is (None: fresh)."""
        if self.checkpoint is None:
            return None
        point = resume_point(self.checkpoint)
        where = f"epoch {point.epoch}, step {point.step}"
        if self.at is not None:
            return f"Continuing run {output_dir} from {self.ckpt_path} ({where})."
        if self.in_place:
            return (f"Resuming the full training state of {self.ckpt_path} ({where}) in a new "
                    f"run directory {output_dir} (the checkpoint has no run record beside it).")
        return (f"Child run {output_dir}: starts from the weights of {self.ckpt_path} "
                "(fresh optimiser, epoch 0).")


def plan_start(cfg: DictConfig, output_dir: Path) -> Start:
    """Read the checkpoint the run starts from (a clear error for a bad file) and decide:
    continue in place (the checkpoint is this run directory's own, or has no run record to
    tell otherwise) or start a child run from its weights (config/continuation.py)."""
    from genlab.runtime.checkpoint_io import load_checkpoint

    ckpt_path = resume_checkpoint(cfg, output_dir)
    if not ckpt_path:
        return Start()
    checkpoint = load_checkpoint(ckpt_path)
    own = is_continuation(ckpt_path, output_dir)
    start = Start(ckpt_path=str(ckpt_path), checkpoint=checkpoint,
                  in_place=own or not has_run_record(ckpt_path),
                  at=resume_point(checkpoint) if own else None)
    check_budget(start, cfg.trainer.get("max_epochs"), cfg.trainer.get("max_steps"))
    return start


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


def check_budget(start: Start, max_epochs: int | None, max_steps: int | None) -> None:
    """A continued run whose checkpoint is already past `trainer.max_epochs` / `max_steps`:
    one paragraph with both numbers (Lightning raises deep inside fit)."""
    if start.checkpoint is None or not start.in_place:
        return
    point = resume_point(start.checkpoint)
    if max_epochs is not None and 0 <= max_epochs < point.epoch:
        raise ConfigError("trainer.max_epochs", max_epochs, f"at least {point.epoch}",
                          f"The checkpoint {start.ckpt_path} has already run {point.epoch} "
                          f"epochs; continue it with trainer.max_epochs ≥ {point.epoch}, or "
                          "fine-tune from its weights in a child run (change a "
                          "hyper-parameter, or start from a copy of the checkpoint).")
    if max_steps is not None and 0 <= max_steps < point.global_step:
        raise ConfigError("trainer.max_steps", max_steps, f"at least {point.global_step}",
                          f"The checkpoint {start.ckpt_path} is at optimizer step "
                          f"{point.global_step}; continue it with a larger trainer.max_steps.")
