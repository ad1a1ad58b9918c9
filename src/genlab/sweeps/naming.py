"""The name of a sweep's directory and the W&B group its runs share.

`sweep.name=NAME` fixes the sweep directory (`<log_dir>/<task_name>/multiruns/NAME`), so
running the same command again finds the Optuna study (and the run dirs) of the first run;
without it the name is `<time>_<process id>` like a run directory's.
"""

from __future__ import annotations

import time
from pathlib import Path


def sweep_dir_name(name: str | None, process_id: str) -> str:
    return str(name) if name else f"{time.strftime('%Y-%m-%d_%H-%M-%S')}_{process_id}"


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
