"""The Hydra callback that summarises every multirun when it ends (conf/hydra/default.yaml):
summary.csv, summary.md and plots in the sweep dir (and, when its jobs log to W&B, a summary
run in their group: sweeps/wandb_summary.py), then the exit code of
`sweep.fail_policy` (genlab/sweeps/failures.py). From its start to its end the sweep holds
the lock on its sweep directory (genlab/runtime/run_lock.py): a second `-m` command on the
same `sweep.name` is refused at once, naming the holder."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from genlab.errors import GenlabError


class SweepSummary(Callback):
    def __init__(self, fail_policy: str = "any") -> None:
        self.fail_policy = fail_policy
        self._lock: Any = None

    def __getstate__(self) -> dict[str, Any]:
        # submitit pickles the Hydra callbacks into each SLURM job: the sweep lock (held by
        # the submitting process, a thread lock inside) stays behind
        return {**self.__dict__, "_lock": None}

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        import atexit

        from genlab.console import print_error
        from genlab.runtime.run_lock import DirLock

        lock = DirLock(Path(config.hydra.sweep.dir), "sweep")
        try:
            lock.acquire()
        except GenlabError as err:
            print_error(str(err))
            sys.exit(err.exit_code)  # SystemExit passes Hydra's callback guard
        self._lock = lock
        atexit.register(lock.release)  # also when the sweep ends in an error

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            self._summarize(config)
        finally:
            if self._lock is not None:
                self._lock.release()

    def _summarize(self, config: DictConfig) -> None:
        from genlab.console import print_error
        from genlab.sweeps.compare import summarize
        from genlab.sweeps.failures import check_policy

        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        records = summarize([sweep_dir], sweep_dir)
        print(f"Sweep summary: {sweep_dir / 'summary.md'}")
        _summary_to_wandb(config, sweep_dir, records)
        try:
            check_policy(self.fail_policy, [r.status for r in records])
        except GenlabError as err:
            print_error(str(err))
            sys.exit(err.exit_code)  # SystemExit passes Hydra's callback guard


def _summary_to_wandb(config: DictConfig, sweep_dir: Path, records: list) -> None:
    """The summary as a table in the sweep's W&B group (sweeps/wandb_summary.py), when its
    jobs log to W&B; a tracker's failure is a warning, never the sweep's exit code."""
    import warnings

    from genlab.sweeps.wandb_summary import log_summary, wandb_settings

    settings = wandb_settings(config)
    if settings is None:
        return
    try:
        run_id = log_summary(settings, sweep_dir, records)
    except Exception as err:  # noqa: BLE001 — summary.md has the same numbers
        warnings.warn(f"The sweep summary could not be logged to W&B ({err!s:.200}); "
                      f"{sweep_dir / 'summary.md'} has it.", stacklevel=2)
        return
    if run_id is not None:
        print(f"W&B sweep summary: run {sweep_dir.name}-summary ({run_id}), table "
              f"sweep/summary, in {sweep_dir / 'wandb'}")

