"""What a finished run directory says about itself: overrides, status, final metrics, W&B id.

A run dir holds `.hydra/overrides.yaml`, `config_resolved.yaml`, `metrics.json` (written
when the run completed) or `failure.json` (written when the run raised or was interrupted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from genlab import run_dir
from genlab.config.flat import dotted


@dataclass
class RunRecord:
    job: str
    run_dir: Path
    overrides: list[str]
    status: str  # completed | failed | interrupted | incomplete
    optimized_metric: str | None = None
    optimized_mode: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    wandb_id: str | None = None
    reason: str = ""
    log: str = ""
    config: dict[str, str] = field(default_factory=dict)  # flat resolved config, as text

    @property
    def params(self) -> dict[str, str]:
        """key → value the run was made with: its resolved config, flat (`model.latent_dim`
        → "16", whether given on the command line or by a default); a run that failed
        before saving its config has only its `key=value` overrides. Keys that say where or
        under which name a run is, not what it is, are left out."""
        pairs = (o.split("=", 1) for o in self.overrides if "=" in o)
        given = {k.lstrip("+"): v for k, v in pairs if not k.lstrip("+~").startswith("hydra")}
        chosen = self.config or given  # a key typo'd on a command line is in no config
        return {k: v for k, v in chosen.items() if not k.startswith(NOT_SETTINGS)}

    @property
    def objective(self) -> float | None:
        return self.metrics.get(self.optimized_metric) if self.optimized_metric else None


# locations, names and trackers: they differ between runs without making them different
NOT_SETTINGS = ("paths.", "hydra", "run_name", "run_id", "ckpt_path", "resume", "logger.",
                "trainer.default_root_dir", "callbacks.model_checkpoint.dirpath",
                "callbacks.last_checkpoint.dirpath", "metrics.cache_dir", "sweep.", "tags",
                "print_config", "task_name")


def _text(value: object) -> str:
    """A config value as an override would spell it (True → "true", None → "null")."""
    if isinstance(value, bool):
        return str(value).lower()
    return "null" if value is None else str(value)


def is_run_dir(path: Path) -> bool:
    return (path / run_dir.HYDRA_DIR).is_dir() or (path / run_dir.METRICS).is_file()


def run_dirs_of(path: Path) -> list[Path]:
    """[path] for a run dir; a sweep dir's job dirs in job-number order."""
    if is_run_dir(path):
        return [path]
    jobs = [p for p in path.iterdir() if p.is_dir() and is_run_dir(p)]
    return sorted(jobs, key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit()
                                       else 0, p.name))


def read_run(path: Path) -> RunRecord:
    overrides = _yaml(path / run_dir.OVERRIDES) or []
    config = _yaml(path / run_dir.CONFIG) or _yaml(path / run_dir.HYDRA_CONFIG)
    record = RunRecord(job=path.name, run_dir=path, overrides=[str(o) for o in overrides],
                       status="incomplete", wandb_id=wandb_run_id(path),
                       config={k: _text(v) for k, v in dotted(config).items()}
                       if isinstance(config, dict) else {})
    record.optimized_metric = (config or {}).get("optimized_metric")
    record.optimized_mode = (config or {}).get("optimized_mode")
    record.log = str(run_dir.log_file(path, (config or {}).get("task_name", "train")))
    finished = run_dir.read_json(path / run_dir.METRICS)
    if finished is not None:
        record.metrics = finished["metrics"]
        record.status = "completed"
        if record.objective is not None and not math.isfinite(record.objective):
            record.status = "failed"
            record.reason = f"{record.optimized_metric} is {record.objective} (not finite)"
    failure = run_dir.read_json(path / run_dir.FAILURE)
    if failure is not None:
        record.status = failure.get("status", "failed")  # failed | interrupted
        record.reason, record.log = failure["reason"], failure["log"]
    return record


def wandb_run_id(path: Path) -> str | None:
    """The run dir's W&B run id (`wandb_run_id`, kept by genlab/runtime/resume.py), else the
    newest run under `<run dir>/wandb` (`[offline-]run-<time>-<id>`)."""
    if (path / run_dir.WANDB_ID).is_file():
        return (path / run_dir.WANDB_ID).read_text().strip() or None
    runs = sorted(p for p in (path / "wandb").glob("*run-*-*") if not p.is_symlink())
    return runs[-1].name.rsplit("-", 1)[-1] if runs else None


def _yaml(path: Path):
    return yaml.safe_load(path.read_text()) if path.is_file() else None
