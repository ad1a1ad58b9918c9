"""The name of a run's output directory, the same in every process that belongs to the run.

Outside SLURM: `<time>_<process id>` (unique even when many runs start in one second).
Inside a SLURM job: `slurm-<job id>[_<array task>][.<step>]`. srun starts every rank on its
own, and a requeued job starts again later, so neither a timestamp nor a process id would
give all ranks (and the requeued job) one directory; the job id does. With `run_id=NAME`
the name is NAME, so rerunning the same command (with `resume=auto`) continues the run.
"""

from __future__ import annotations

import os
import time


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


def run_dir_name(run_id: str | None, process_id: str) -> str:
    if run_id:
        return str(run_id)
    return slurm_run_name() or f"{time.strftime('%Y-%m-%d_%H-%M-%S')}_{process_id}"
