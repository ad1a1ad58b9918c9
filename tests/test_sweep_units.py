"""Sweep pieces without running jobs: search-space syntax, how the Optuna sweeper tells
outcomes and resumes, the presets composing, and the summary of hand-written run dirs."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

from genlab.config import config_dir
from genlab.config.schema import validate
from genlab.sweeps.compare import summarize
from genlab.sweeps.records import read_run

optuna = pytest.importorskip("optuna")
from optuna.distributions import (  # noqa: E402
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState  # noqa: E402

from hydra_plugins.genlab_optuna_sweeper.search_space import parse  # noqa: E402
from hydra_plugins.genlab_optuna_sweeper.sweeper import (  # noqa: E402
    GenlabOptunaSweeper,
    requeue_interrupted,
)


def test_search_space_syntax() -> None:
    space, fixed = parse(["a=choice(2, 4)", "b=range(1, 4)", "c=interval(0.5, 2.0)",
                          "d=tag(log, interval(1e-4, 1e-2))", "e=1,2", "trainer.max_epochs=3",
                          "a=choice(8, 16)"])
    assert space["a"] == CategoricalDistribution([8, 16])  # the later line wins
    assert space["b"] == IntDistribution(1, 3)
    assert space["c"] == FloatDistribution(0.5, 2.0)
    assert space["d"] == FloatDistribution(1e-4, 1e-2, log=True)
    assert space["e"] == CategoricalDistribution([1, 2])
    assert fixed == ["trainer.max_epochs=3"]


def _sweeper(tmp_path: Path) -> GenlabOptunaSweeper:
    sweeper = GenlabOptunaSweeper(direction="max", study_name="s", n_trials=2)
    sweeper.sweep_dir = tmp_path
    return sweeper


def _job(value: object, status: JobStatus = JobStatus.COMPLETED) -> JobReturn:
    ret = JobReturn()
    ret.status, ret._return_value = status, value
    return ret


def test_sweeper_tells_nan_and_exceptions_as_failures(tmp_path: Path) -> None:
    sweeper, study = _sweeper(tmp_path), optuna.create_study(direction="maximize")
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "failure.json").write_text(json.dumps(
        {"reason": "NonFiniteError: loss is nan", "log": "x.log"}))
    outcomes = [_job(-3.0), _job(math.nan), _job(RuntimeError("boom"), JobStatus.FAILED)]
    for ret in outcomes:
        sweeper._tell(study, study.ask({"x": FloatDistribution(0, 1)}), ret)
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.FAIL]
    assert trials[0].value == -3.0
    assert trials[1].user_attrs["reason"] == "NonFiniteError: loss is nan"
    assert trials[2].user_attrs["reason"] == "RuntimeError: boom"
    assert trials[0].user_attrs["run_dir"] == str(tmp_path / "0")


def test_interrupted_trials_are_failed_and_queued_again() -> None:
    study = optuna.create_study()
    study.ask({"x": FloatDistribution(0, 1)})  # left RUNNING, as by a killed sweeper
    requeue_interrupted(study)
    first, queued = study.trials
    assert first.state == TrialState.FAIL and queued.state == TrialState.WAITING
    assert study.ask({"x": FloatDistribution(0, 1)}).params == first.params


@pytest.mark.parametrize("preset", ["vae_digits", "dcgan_digits"])
def test_search_presets_compose_and_validate(preset: str, tmp_path: Path, compose_cfg) -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        cfg = compose("train", overrides=[f"hparams_search={preset}",
                                          f"paths.root_dir={tmp_path}"],
                      return_hydra_config=True)
    GlobalHydra.instance().clear()
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("GenlabOptunaSweeper")
    assert sweeper.direction == cfg.optimized_mode
    space, fixed = parse(f"{k}={v}" for k, v in sweeper.params.items())
    assert len(space) >= 3 and not fixed
    composed = compose_cfg(f"hparams_search={preset}", "metrics=default")
    plain = OmegaConf.to_container(composed, resolve=True)
    validate(plain)
    if preset == "dcgan_digits":
        assert plain["model"]["optimizer_d"]["betas"] == [0.5, 0.999]


def test_study_preset_is_a_multirun_grid(tmp_path: Path) -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        cfg = compose("train", overrides=["experiment=vae_latent_dim"],
                      return_hydra_config=True)
    GlobalHydra.instance().clear()
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    assert cfg.hydra.sweeper.params["model.latent_dim"] == "2,4,8,16,32"
    assert cfg.hydra.sweeper.params.seed == "0,1,2" and cfg.sweep.name == "vae_latent_dim"


def _run_dir(root: Path, job: str, overrides: list[str], elbo: float | None) -> Path:
    run = root / job
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(json.dumps(overrides))
    # the resolved config holds what the overrides set (as a real run's does)
    config = OmegaConf.create({"task_name": "train", "optimized_metric": "val/elbo",
                               "optimized_mode": "max"})
    for o in overrides:
        OmegaConf.update(config, *o.split("=", 1), force_add=True)
    (run / "config_resolved.yaml").write_text(OmegaConf.to_yaml(config))
    if elbo is not None:
        (run / "metrics.json").write_text(json.dumps(
            {"metrics": {"val/elbo": elbo, "test/elbo": elbo - 1}}))
    return run


def test_summary_of_run_dirs(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    _run_dir(sweep, "0", ["model.latent_dim=2", "seed=0", "logger=csv"], -30.0)
    _run_dir(sweep, "1", ["model.latent_dim=2", "seed=1", "logger=csv"], -32.0)
    _run_dir(sweep, "2", ["model.latent_dim=8", "seed=0", "logger=csv"], math.nan)
    _run_dir(sweep, "10", ["model.latent_dim=8", "seed=1", "logger=csv"], None)
    records = summarize([sweep], sweep)
    assert [r.job for r in records] == ["0", "1", "2", "10"]  # job-number order
    assert [r.status for r in records] == ["completed", "completed", "failed", "incomplete"]
    assert "not finite" in records[2].reason
    md = (sweep / "summary.md").read_text()
    assert "| 2 | 2 | -31 ± 1.4 | -32 ± 1.4 |" in md  # mean ± std over the two seeds
    assert "Common overrides: `logger=csv`" in md
    assert (sweep / "objective_vs_model.latent_dim.png").is_file()
    assert read_run(sweep / "0").params == {"model.latent_dim": "2", "seed": "0",
                                            "logger": "csv", "optimized_metric": "val/elbo",
                                            "optimized_mode": "max"}


def test_compare_columns_come_from_the_run_configs(tmp_path: Path) -> None:
    """A baseline with no override shows its config's value (was `model.latent_dim=None`
    beside a run given 8), only keys that differ are columns (a key typo'd on one command
    line that composed into no config is none), a seed-only group gets its mean ± std row,
    and a single run's value has no "± 0". Rules out columns read from the overrides."""
    from genlab.sweeps.summary import swept_keys

    def run(job: str, overrides: list[str], latent: int, seed: int, elbo: float) -> None:
        d = _run_dir(tmp_path / "cmp", job, overrides, elbo)
        (d / "config_resolved.yaml").write_text(
            "task_name: train\noptimized_metric: val/elbo\noptimized_mode: max\n"
            f"seed: {seed}\nmodel:\n  latent_dim: {latent}\n  beta: 1.0\n"
            f"paths:\n  output_dir: /x/{job}\n")

    run("0", [], 16, 42, -30.0)
    run("1", ["model.latent_dim=8", "mdoel.beta=2"], 8, 42, -31.0)
    records = summarize([tmp_path / "cmp"], tmp_path / "cmp")
    assert swept_keys(records) == ["model.latent_dim"]
    assert records[0].params["model.latent_dim"] == "16"
    md = (tmp_path / "cmp" / "summary.md").read_text()
    assert "± 0" not in md and "mdoel" not in md

    shutil.rmtree(tmp_path / "cmp")  # a seed-only sweep
    for job, seed, elbo in (("0", 1, -30.0), ("1", 2, -32.0)):
        run(job, [f"seed={seed}"], 16, seed, elbo)
    records = summarize([tmp_path / "cmp"], tmp_path / "cmp")
    assert swept_keys(records) == ["seed"]
    md = (tmp_path / "cmp" / "summary.md").read_text()
    assert "| all runs | 2 | -31 ± 1.4 |" in md
