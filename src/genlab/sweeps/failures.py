"""A trial of a multirun that raises is recorded, not fatal.

The job writes `failure.json` (reason, exception type, log path, traceback) into its run
directory and returns NaN, which both sweepers treat as a failed trial (Optuna marks it
FAIL); the sweep goes on. At the end of the multirun `sweep.fail_policy` decides the exit
code: `any` (default: exit 3 when any trial failed), `all` (only when every trial failed)
or `never`.
"""

from __future__ import annotations

import json
import logging
import math
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genlab.errors import ConfigError, GenlabError

FAILURE_FILE = "failure.json"
FAIL_POLICIES = ("any", "all", "never")
log = logging.getLogger(__name__)


class SweepFailedError(GenlabError):
    """Trials of a multirun failed and `sweep.fail_policy` says the sweep failed."""

    exit_code = 3


def run_trial(run: Callable[[Any], float | None], cfg: Any) -> float:
    """`run(cfg)` for one multirun job: any exception becomes a recorded failure and NaN."""
    from genlab.console import print_error
    from genlab.train import is_rank_zero

    output_dir = Path(cfg.paths.output_dir)
    if is_rank_zero():  # a rerun of a failed job (sweep.name) starts without the old record
        (output_dir / FAILURE_FILE).unlink(missing_ok=True)
    try:
        value = run(cfg)
    except Exception as err:  # noqa: BLE001 — every trial failure is recorded, none is fatal
        record = describe_failure(err, output_dir / f"{cfg.task_name}.log")
        if is_rank_zero():  # only rank 0 writes; each rank logs its own reason
            write_failure(record, output_dir)
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


def write_failure(record: dict[str, str], output_dir: Path) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    tmp = output_dir / f"{FAILURE_FILE}.tmp"
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(output_dir / FAILURE_FILE)


def read_failure(run_dir: Path) -> dict[str, str] | None:
    path = run_dir / FAILURE_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def check_policy(policy: str, statuses: list[str]) -> None:
    """Raise SweepFailedError when the finished sweep counts as failed under `policy`."""
    if policy not in FAIL_POLICIES:
        raise ConfigError("sweep.fail_policy", policy, ", ".join(FAIL_POLICIES))
    failed = sum(s != "completed" for s in statuses)
    if failed and (policy == "any" or (policy == "all" and failed == len(statuses))):
        raise SweepFailedError(
            f"{failed} of {len(statuses)} trials did not complete (sweep.fail_policy="
            f"{policy}); see summary.md in the sweep directory for the reasons and logs, "
            "or set sweep.fail_policy=never to exit 0.")
