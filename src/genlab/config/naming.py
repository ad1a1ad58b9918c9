"""Names of run and sweep directories, the same in every process that belongs to them.

Outside SLURM a run is `<time>_<process id>` (unique even when many runs start in one
second). Inside a SLURM job it is `slurm-<job id>[_<array task>][.<step>]`: srun starts
every rank on its own, and a requeued job starts again later, so neither a timestamp nor a
process id would give all ranks (and the requeued job) one directory; the job id does.
With `run_id=NAME` the name is NAME, so rerunning the same command (with `resume=auto`)
continues the run. `sweep.name=NAME` likewise fixes a sweep's directory
(`<log_dir>/<task_name>/multiruns/NAME`), so the same command finds its Optuna study again.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def slurm_run_name(env: os._Environ | dict = os.environ) -> str | None:
    """`slurm-<job>[_<array task>][.<step>]`, or None outside a SLURM job."""
    if "SLURM_JOB_ID" not in env:
        return None
    if "SLURM_ARRAY_JOB_ID" in env:
        name = f"slurm-{env['SLURM_ARRAY_JOB_ID']}_{env.get('SLURM_ARRAY_TASK_ID', '0')}"
    else:
        name = f"slurm-{env['SLURM_JOB_ID']}"
    step = env.get("SLURM_STEP_ID", "0")
    # a second srun step of the same batch script is a second run
    return name if step in ("0", "batch", "4294967294") else f"{name}.{step}"


def _timestamped(process_id: str) -> str:
    return f"{time.strftime('%Y-%m-%d_%H-%M-%S')}_{process_id}"


def run_dir_name(run_id: str | None, process_id: str) -> str:
    if run_id:
        return str(run_id)
    return slurm_run_name() or _timestamped(process_id)


def sweep_dir_name(name: str | None, process_id: str) -> str:
    return str(name) if name else _timestamped(process_id)


def wandb_group() -> str | None:
    """The sweep directory's name inside a multirun job (all its jobs share it), else None."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.get("mode") != RunMode.MULTIRUN:
        return None
    return Path(hydra_cfg.sweep.dir).name


def wandb_run_name(run_name: str) -> str:
    """The W&B run's display name: `run_name`, and inside a multirun job also its own
    command-line overrides (`digits-vae model.latent_dim=8 seed=1`), so a sweep's runs are
    told apart in the dashboard without opening each config."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return run_name
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.get("mode") != RunMode.MULTIRUN:
        return run_name
    from omegaconf import OmegaConf

    from genlab.config.redaction import redact_override

    shared = _shared_keys(Path(hydra_cfg.sweep.dir))
    typed = [str(o) for o in OmegaConf.to_container(hydra_cfg.overrides.task, resolve=False)]
    overrides = [redact_override(o) for o in typed
                 if _key(o) not in shared and not _key(o).startswith(("hydra", "sweep."))]
    return " ".join([run_name, *overrides])


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _shared_keys(sweep_dir: Path) -> set[str]:
    """Keys the multirun's command line sets to one value for every job (`logger=many`,
    not `seed=1,2` or `seed=range(3)`), from the `multirun.yaml` Hydra's sweepers write
    before launching: they say nothing about one job."""
    from omegaconf import OmegaConf

    try:
        typed = [str(o) for o in OmegaConf.load(sweep_dir / "multirun.yaml").hydra.overrides.task]
    except Exception:  # noqa: BLE001 — no record: name the job by all its overrides
        return set()
    return {_key(o) for o in typed if "=" in o and not _sweeps(o.split("=", 1)[1])}


def _sweeps(value: str) -> bool:
    """A comma outside brackets/quotes (`1,2`) or a sweep function (`range(3)`)."""
    if value.split("(", 1)[0] in ("range", "choice", "interval", "glob", "tag"):
        return True
    depth, quote = 0, ""
    for ch in value:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            return True
    return False
