"""A sweep's summary in W&B: at the end of a multirun whose jobs log to W&B, one more small
run, `<group>-summary` (job type `sweep-summary`) in the same project and group, holding
the table `sweep/summary`: one row per setting of the swept keys other than the seed, its
number of completed runs, and the mean and std over seeds of the objective and each test
metric (sweeps/summary.py `aggregate`, the same numbers as summary.md).

Why a run of its own: a W&B table belongs to one run, and the trials have finished before
the summary exists; logged into each trial it would be there N times, each copy a
different run's. In the group's view the summary run sits beside the trials it averages.
Its id is kept in the sweep directory, so a resumed sweep (`sweep.name=NAME`) updates the
same summary run instead of adding another.
"""

from __future__ import annotations

import math
import secrets
from pathlib import Path
from typing import Any

from genlab import run_dir
from genlab.sweeps.records import RunRecord
from genlab.sweeps.summary import aggregate

TABLE_KEY = "sweep/summary"
ID_FILE = "wandb_summary_id"


def wandb_settings(config: Any) -> dict[str, Any] | None:
    """The multirun's W&B logger settings (project, entity, tags, offline), or None when
    its jobs do not log to W&B. Read key by key: the logger's other keys (its save_dir,
    the job's name) resolve only inside a job."""
    from omegaconf import OmegaConf

    for name, logger in (OmegaConf.select(config, "logger") or {}).items():
        if str(OmegaConf.select(logger, "_target_", default="")).endswith("WandbLogger"):
            prefix = f"logger.{name}"
            return {key: _select(config, f"{prefix}.{key}")
                    for key in ("project", "entity", "tags", "offline")}
    return None


def _select(config: Any, key: str) -> Any:
    from omegaconf import OmegaConf

    try:
        value = OmegaConf.select(config, key, throw_on_resolution_failure=True)
    except Exception:  # noqa: BLE001 — an interpolation only a job can resolve: unset
        return None
    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value


def log_summary(settings: dict[str, Any], sweep_dir: Path,
                records: list[RunRecord]) -> str | None:
    """Write the sweep's summary run; its id, or None when nothing was averaged."""
    import wandb

    from genlab.runtime.trackers import wandb_mode

    agg = aggregate(records)
    if agg is None:
        return None
    columns = [*agg.heads, "runs"]
    for metric in agg.metrics:
        columns += [f"{metric} mean", f"{metric} std"]
    data = [[*map(str, names), n, *(None if math.isnan(v) else v for pair in stats for v in pair)]
            for names, n, stats in agg.rows]
    id_file = sweep_dir / ID_FILE
    run_id = id_file.read_text().strip() if id_file.is_file() else secrets.token_hex(4)
    run_dir.write_text(id_file, run_id)
    group = sweep_dir.name
    offline = wandb_mode({"offline": bool(settings.get("offline"))}).get("offline")
    run = wandb.init(project=settings.get("project"), entity=settings.get("entity"),
                     group=group, name=f"{group}-summary", job_type="sweep-summary",
                     tags=settings.get("tags"), id=run_id, resume="allow", dir=str(sweep_dir),
                     mode="offline" if offline else None,
                     config={"sweep_dir": str(sweep_dir), "optimized_metric": agg.metrics[0]})
    try:
        run.log({TABLE_KEY: wandb.Table(columns=columns, data=data)})
        run.summary.update({"runs": len(records),
                            "completed": sum(r.status == "completed" for r in records)})
    finally:
        run.finish()
        wandb.teardown()
    return run_id
