"""When a finished multirun counts as failed. Each failed trial left a `failure.json` in its
run directory (genlab/runtime/trials.py); at the end of the multirun `sweep.fail_policy`
decides the exit code: `any` (default: exit 3 when any trial failed), `all` (only when every
trial failed) or `never`.
"""

from __future__ import annotations

from genlab.config.choices import FAIL_POLICIES
from genlab.errors import ConfigError, GenlabError


class SweepFailedError(GenlabError):
    """Trials of a multirun failed and `sweep.fail_policy` says the sweep failed."""

    exit_code = 3


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
