"""A run that raises leaves its reason behind; a trial of a multirun that raises is recorded,
not fatal.

Every run (a single run from where it starts on, a multirun job from its start) that raises
writes `failure.json` (reason, exception type, log path, traceback) into its run directory
and the traceback into its log, so genlab-compare shows why it failed. A multirun job then
returns NaN, which both sweepers treat as a failed trial (Optuna marks it FAIL); the sweep
goes on. At the end of the multirun `sweep.fail_policy` decides the exit code
(genlab/sweeps/failures.py). Ctrl-C or SIGTERM is not a failed trial: the run is recorded as
interrupted and the sweep stops with the signal's exit code (130, 143).
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import traceback
from collections.abc import Callable, Iterator
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
    log_path = run_dir.log_file(output_dir, cfg.task_name)
    try:
        with failure_recorded(output_dir, log_path):
            value = run(cfg)
    except InterruptedRunError as err:  # Ctrl-C / SIGTERM stops the sweep, not just a trial
        print_error(str(err))
        sys.exit(err.exit_code)
    except Exception as err:  # noqa: BLE001 — every trial failure is recorded, none is fatal
        reason = describe_failure(err, log_path)["reason"]
        print_error(f"Trial {output_dir.name} failed ({reason}); the sweep goes on. "
                    f"Log: {log_path}")
        return math.nan
    return math.nan if value is None else float(value)


@contextlib.contextmanager
def failure_recorded(output_dir: Path, log_path: Path) -> Iterator[None]:
    """Rank 0 removes an earlier attempt's `failure.json` (a continued run that completes is
    not failed), then records the block's exception, if any, and re-raises it. Each rank logs
    its own reason. Nested blocks record an exception once (the innermost)."""
    if is_rank_zero():
        (output_dir / run_dir.FAILURE).unlink(missing_ok=True)
    try:
        yield
    except Exception as err:
        if not getattr(err, "_genlab_recorded", False):
            err._genlab_recorded = True  # type: ignore[attr-defined]
            record = describe_failure(err, log_path)
            if isinstance(err, InterruptedRunError):
                record["status"] = "interrupted"
            else:
                log.error("run failed: %s\n%s", record["reason"], record["traceback"])
            if is_rank_zero():  # only rank 0 writes
                run_dir.write_json(output_dir / run_dir.FAILURE, record)
        raise


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
