"""An Optuna study driven through Hydra's launcher, persisted in SQLite under the sweep dir.

Each trial is one Hydra job whose job number is the trial number (run dir
`<sweep dir>/<trial number>`). `n_trials` is the study's budget: running the same command
again (same sweep dir, e.g. `sweep.name=NAME`) loads the study and runs only the trials
still missing — after an interruption it finishes the budget, with a larger
`hydra.sweeper.n_trials` it extends the study. Trials that were still running when the
sweeper died are marked failed and their parameters queued again. The sampler's seed is
offset by the number of trials already in the study, so a resumed search does not repeat
the first run's proposals. A trial whose job returns None/NaN (genlab records a failed
trial that way) is told to Optuna as FAIL.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)
DIRECTIONS = {"max": "maximize", "min": "minimize", "maximize": "maximize",
              "minimize": "minimize"}
OUTCOME = "genlab_outcome"  # user attr set on every trial this sweeper saw to an end


class GenlabOptunaSweeper(Sweeper):
    def __init__(self, direction: str, study_name: str, n_trials: int, n_jobs: int = 1,
                 storage: str | None = None, sampler: Any = None,
                 params: Any = None) -> None:
        if direction not in DIRECTIONS:
            raise ValueError(f"hydra.sweeper.direction={direction!r}: use max or min")
        self.direction = DIRECTIONS[direction]
        self.study_name, self.n_trials, self.n_jobs = study_name, int(n_trials), int(n_jobs)
        self.storage, self.sampler_cfg = storage, sampler
        self.params = OmegaConf.to_container(params, resolve=True) if params else {}

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.config_loader = hydra_context.config_loader  # validate_batch_is_legal uses it
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)
        self.sweep_dir = Path(config.hydra.sweep.dir).resolve()

    def sweep(self, arguments: list[str]) -> None:
        import optuna

        from hydra_plugins.genlab_optuna_sweeper.search_space import parse

        space, fixed = parse([*(f"{k}={v}" for k, v in self.params.items()), *arguments])
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        storage = self.storage or f"sqlite:///{self.sweep_dir / 'optuna.db'}"
        study = optuna.create_study(study_name=self.study_name, storage=storage,
                                    direction=self.direction, load_if_exists=True)
        requeue_interrupted(study)
        study.sampler = self._sampler(len(study.trials))
        done = sum(OUTCOME in t.user_attrs for t in study.trials)
        log.info("Optuna study %r in %s: %d of %d trials done", self.study_name, storage,
                 done, self.n_trials)
        while done < self.n_trials:
            trials = [study.ask(space) for _ in range(min(self.n_jobs, self.n_trials - done))]
            batch = [[*fixed, *(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
                                for k, v in t.params.items())] for t in trials]
            self.validate_batch_is_legal(batch)
            returns = self.launcher.launch(batch, initial_job_idx=trials[0].number)
            for trial, ret in zip(trials, returns, strict=True):
                self._tell(study, trial, ret)
            done += len(trials)
        self._save_best(study)

    def _sampler(self, n_existing: int) -> Any:
        from hydra.utils import instantiate

        cfg = self.sampler_cfg or {"_target_": "optuna.samplers.TPESampler", "seed": None}
        cfg = OmegaConf.to_container(OmegaConf.create(cfg), resolve=True)
        if cfg.get("seed") is not None:  # a resumed study gets fresh proposals
            cfg["seed"] = int(cfg["seed"]) + n_existing
        return instantiate(cfg)

    def _tell(self, study: Any, trial: Any, ret: JobReturn) -> None:
        from optuna.trial import TrialState

        run_dir = self.sweep_dir / str(trial.number)
        trial.set_user_attr("run_dir", str(run_dir))
        value = ret.return_value if ret.status == JobStatus.COMPLETED else None
        if value is None or not math.isfinite(float(value)):
            trial.set_user_attr(OUTCOME, "failed")
            trial.set_user_attr("reason", failure_reason(run_dir, ret))
            study.tell(trial, state=TrialState.FAIL)
        else:
            trial.set_user_attr(OUTCOME, "completed")
            study.tell(trial, float(value))

    def _save_best(self, study: Any) -> None:
        from optuna.trial import TrialState

        completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        result: dict[str, Any] = {"study_name": self.study_name, "direction": self.direction,
                                  "n_trials": len(study.trials), "n_complete": len(completed)}
        if completed:
            best = study.best_trial
            result.update(best_trial=best.number, best_value=best.value,
                          best_params=best.params)
            log.info("Best trial %d: %s = %s", best.number, best.params, best.value)
        OmegaConf.save(OmegaConf.create(result), self.sweep_dir / "optimization_results.yaml")


def requeue_interrupted(study: Any) -> None:
    """Trials left RUNNING by a sweeper that died: mark them failed, queue their params."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)
        if trial.params:
            study.enqueue_trial(trial.params)


def failure_reason(run_dir: Path, ret: JobReturn) -> str:
    from genlab import run_dir as layout

    record = layout.read_json(run_dir / layout.FAILURE)
    if record:
        return record["reason"]
    try:
        ret.return_value  # noqa: B018 — raises the job's exception when it failed
    except Exception as err:  # noqa: BLE001
        return f"{type(err).__name__}: {err}"
    return "the job returned no finite value"
