"""A trial of a multirun that raises is recorded, not fatal.

The job writes `failure.json` (reason, exception type, log path, traceback) into its run
directory and returns NaN, which both sweepers treat as a failed trial (Optuna marks it
FAIL); the sweep goes on. At the end of the multirun `sweep.fail_policy` decides the exit
code (genlab/sweeps/failures.py). Ctrl-C or SIGTERM is not a failed trial: the trial is
recorded as interrupted and the sweep stops with the signal's exit code (130, 143).
"""

from __future__ import annotations

import logging
import math
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genlab import run_dir
from genlab.console import print_error
from genlab.errors import InterruptedRunError
from genlab.runtime.ranks import is_rank_zero

log = logging.getLogger(__name__)


def run_trial(run: Callable[[Any], float | None], cfg: Any) -> float:
    """`run(cfg)` for one multirun job: any exception becomes a recorded failure and NaN."""
    output_dir = Path(cfg.paths.output_dir)
    if is_rank_zero():  # a rerun of a failed job (sweep.name) starts without the old record
        (output_dir / run_dir.FAILURE).unlink(missing_ok=True)
    try:
        value = run(cfg)
    except InterruptedRunError as err:  # Ctrl-C / SIGTERM stops the sweep, not just a trial
        if is_rank_zero():
            record = describe_failure(err, run_dir.log_file(output_dir, cfg.task_name))
            run_dir.write_json(output_dir / run_dir.FAILURE, {**record, "status": "interrupted"})
        print_error(str(err))
        sys.exit(err.exit_code)
    except Exception as err:  # noqa: BLE001 — every trial failure is recorded, none is fatal
        record = describe_failure(err, run_dir.log_file(output_dir, cfg.task_name))
        if is_rank_zero():  # only rank 0 writes; each rank logs its own reason
            run_dir.write_json(output_dir / run_dir.FAILURE, record)
        log.error("trial failed: %s\n%s", record["reason"], record["traceback"])
        print_error(f"Trial {output_dir.name} failed ({record['reason']}); the sweep goes "
                    f"on. Log: {record['log']}")
        return math.nan
    return math.nan if value is None else float(value)


def describe_failure(err: BaseException, log_path: Path) -> dict[str, str]:
    cause = err
    # Hydra wraps what a constructor raised ("Error in call to target ..."): the reason is
    # the wrapped error
    while type(cause).__name__ == "InstantiationException" and cause.__cause__ is not None:
        cause = cause.__cause__
    return {
        "status": "failed",
        "reason": f"{type(cause).__name__}: {cause}".strip().splitlines()[0][:500],
        "log": str(log_path),
        "traceback": "".join(traceback.format_exception(err)),
    }
