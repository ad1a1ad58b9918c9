"""Sweeps end to end: a grid multirun with its summary and W&B group, a sweep that survives
a failing trial, a resumable Optuna study, and genlab-compare reproducing the summary."""

from __future__ import annotations

import csv
import shutil
import sqlite3
import statistics
from pathlib import Path

import pytest

from conftest import run_cli
from genlab.errors import ConfigError, NonFiniteError
from genlab.sweeps.failures import SweepFailedError, check_policy
from wandb_records import config, offline_run_dir, records, table

# a few batches of each stage, one epoch, no images (debug=limit sets task_name=debug)
TINY = ["debug=limit", "trainer.max_epochs=1", "callbacks=checkpoint", "metrics=none",
        "model.iwae_samples=4", "trainer.enable_progress_bar=false"]
ENV = {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parent)}
GUARD = "+callbacks.nonfinite_guard={_target_:genlab.callbacks.nan_guard.NonFiniteGuard}"


def sweep_dir(root: Path, name: str) -> Path:
    return root / "logs" / "debug" / "multiruns" / name


def summary_rows(path: Path) -> list[dict[str, str]]:
    with (path / "summary.csv").open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_grid_multirun_summary_wandb_group_and_compare(tmp_path: Path) -> None:
    """A 2 × 2 grid (latent size × seed): summary.csv, one W&B run per job in the sweep's
    group, the group's summary run holding mean ± std over seeds per latent size as a
    table, and genlab-compare rewriting the same summary. The table's check rules out
    one row per run (4 rows, no std), and a std over all four runs ignoring the latent
    size (each row's std is over its own two seeds)."""
    proc = run_cli("-m", *TINY, "model.latent_dim=2,4", "seed=0,1", "sweep.name=grid",
                   cwd=tmp_path, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = sweep_dir(tmp_path, "grid")
    jobs = sorted(p.name for p in out.iterdir() if p.is_dir() and p.name.isdigit())
    assert jobs == ["0", "1", "2", "3"]
    rows = summary_rows(out)
    assert [r["status"] for r in rows] == ["completed"] * 4
    assert {(r["model.latent_dim"], r["seed"]) for r in rows} == {
        ("2", "0"), ("2", "1"), ("4", "0"), ("4", "1")}
    for r in rows:
        assert f"model.latent_dim={r['model.latent_dim']}" in r["overrides"].split()
        assert r["optimized_metric"] == "val/elbo" and float(r["objective"]) < 0
        assert float(r["val/elbo"]) == float(r["objective"]) and r["test/nll_iwae"]
    assert (out / "summary.md").read_text().count("| completed |") == 4
    assert (out / "objective_vs_model.latent_dim.png").stat().st_size > 0
    assert (out / "learning_curves.png").stat().st_size > 0

    # one W&B run per job, all in the sweep's group, the swept keys in their config
    for r in rows:
        recs = records(offline_run_dir(Path(r["run_dir"])))
        run = next(x["run"] for x in recs if x["type"] == "run")
        assert run["run_group"] == "grid" and run["job_type"] == "debug"
        assert run["run_id"] == r["wandb_run_id"]
        assert config(recs)["model.latent_dim"] == int(r["model.latent_dim"])

    # the group's summary run: mean ± std over seeds per latent size, as a W&B table
    [summary_run] = (out / "wandb").glob("offline-run-*")
    recs = records(summary_run)
    run = next(x["run"] for x in recs if x["type"] == "run")
    assert (run["display_name"], run["run_group"], run["job_type"]) == (
        "grid-summary", "grid", "sweep-summary")
    assert run["project"] == next(x["run"] for x in records(offline_run_dir(
        Path(rows[0]["run_dir"]))) if x["type"] == "run")["project"]
    got = table(summary_run, recs, "sweep/summary")
    assert got["columns"][:4] == ["model.latent_dim", "runs", "val/elbo mean", "val/elbo std"]
    assert "test/nll_iwae std" in got["columns"]
    expected = {}
    for dim in ("2", "4"):
        values = [float(r["val/elbo"]) for r in rows if r["model.latent_dim"] == dim]
        expected[dim] = [2, statistics.fmean(values), statistics.stdev(values)]
    assert {row[0]: pytest.approx(row[1:4]) for row in got["data"]} == expected

    # genlab-compare rewrites the same summary from the directory alone
    before = {n: (out / n).read_text() for n in ("summary.csv", "summary.md")}
    for name in before:
        (out / name).unlink()
    proc = run_cli(str(out), cwd=tmp_path, module="genlab.cli.compare")
    assert proc.returncode == 0, proc.stderr
    assert {n: (out / n).read_text() for n in before} == before


@pytest.mark.slow
def test_a_failing_trial_is_recorded_and_the_sweep_goes_on(tmp_path: Path) -> None:
    # job 0 poisons its weights at step 1 (NonFiniteError), job 1 never
    proc = run_cli("-m", *TINY, GUARD, "sweep.name=faulty",
                   "+callbacks.poison={_target_:faults.PoisonWeights,at_step:1},"
                   "{_target_:faults.PoisonWeights,at_step:10000}", cwd=tmp_path, env=ENV)
    assert proc.returncode == SweepFailedError.exit_code, proc.stderr[-3000:]
    assert "1 of 2 trials did not complete" in proc.stderr
    out = sweep_dir(tmp_path, "faulty")
    failed, ok = summary_rows(out)
    assert ok["status"] == "completed" and (out / "1" / "metrics.json").is_file()
    assert failed["status"] == "failed" and failed["reason"].startswith("NonFiniteError")
    assert Path(failed["log"]) == out / "0" / "debug.log"
    assert "NonFiniteError" in Path(failed["log"]).read_text()  # the traceback is in the log
    md = (out / "summary.md").read_text()
    assert "| failed |" in md and "NonFiniteError" in md
    # the failed trial's W&B run is closed as failed, the other one as finished
    exit_codes = [next(x["exit"]["exit_code"] for x in records(offline_run_dir(out / job))
                       if x["type"] == "exit") for job in ("0", "1")]
    assert exit_codes == [1, 0]

    # the same sweep under fail_policy=never exits 0
    shutil.rmtree(out)
    proc = run_cli("-m", *TINY, GUARD, "sweep.name=faulty", "sweep.fail_policy=never",
                   "+callbacks.poison={_target_:faults.PoisonWeights,at_step:1}",
                   cwd=tmp_path, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["status"] for r in summary_rows(out)] == ["failed"]


@pytest.mark.slow
def test_a_trial_failing_before_training_has_a_failed_wandb_run(tmp_path: Path) -> None:
    # job 0 names a gradient-clipping algorithm Lightning refuses: it fails while its Trainer
    # is built, before any training; its W&B run exists, carries its config, is failed
    proc = run_cli("-m", *TINY, "+trainer.gradient_clip_algorithm=bogus,norm",
                   "sweep.name=early", cwd=tmp_path, env=ENV)
    assert proc.returncode == SweepFailedError.exit_code, proc.stderr[-3000:]
    out = sweep_dir(tmp_path, "early")
    failed, ok = summary_rows(out)
    assert failed["status"] == "failed" and "bogus" in failed["reason"]
    assert failed["reason"].startswith("RefusedConfigError")  # not Hydra's wrapper
    assert ok["status"] == "completed"
    recs = [records(offline_run_dir(out / job)) for job in ("0", "1")]
    assert [next(x["exit"]["exit_code"] for x in r if x["type"] == "exit")
            for r in recs] == [1, 0]
    run = next(x["run"] for x in recs[0] if x["type"] == "run")
    assert run["run_group"] == "early" and run["run_id"] == failed["wandb_run_id"]
    assert config(recs[0])["trainer.gradient_clip_algorithm"] == "bogus"


@pytest.mark.slow
def test_crashed_runs_show_their_reason_in_compare_and_their_log(tmp_path: Path) -> None:
    """A learning rate of 1e30 crashes at run time (NaN loss at step 1), as a sweep trial
    and as a single run; genlab-compare over both shows each as failed with its reason,
    and each run's log holds the traceback. Rules out the single run showing
    "incomplete" with an empty log (failure.json written by sweep trials only), and
    recording every error: a completed run whose continuation is refused (a spent epoch
    budget) stays completed."""
    proc = run_cli("-m", *TINY, "model.optimizer.lr=1e30,1e-3", "sweep.name=lr",
                   "sweep.fail_policy=never", "logger=csv", cwd=tmp_path, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run_cli(*TINY, "model.optimizer.lr=1e30", "run_id=crashed", "logger=csv",
                   cwd=tmp_path, env=ENV)
    assert proc.returncode == NonFiniteError.exit_code, proc.stderr[-3000:]
    sweep, single = sweep_dir(tmp_path, "lr"), tmp_path / "logs" / "debug" / "runs" / "crashed"
    # continuing the completed trial in place with fewer epochs than it ran is refused
    proc = run_cli(f"ckpt_path={sweep / '1' / 'checkpoints' / 'last.ckpt'}",
                   "trainer.max_epochs=0", cwd=tmp_path, env=ENV)
    assert proc.returncode == ConfigError.exit_code and "already run" in proc.stderr, proc.stderr

    proc = run_cli(str(sweep), str(single), "--out", "cmp", cwd=tmp_path,
                   module="genlab.cli.compare")
    assert proc.returncode == 0, proc.stderr
    rows = {line.split(" | ")[0].strip("| "): line for line in proc.stdout.splitlines()
            if line.startswith(("| lr/", "| crashed"))}
    assert set(rows) == {"lr/0", "lr/1", "crashed"}, proc.stdout
    assert "| completed |" in rows["lr/1"]
    for job, log in (("lr/0", sweep / "0" / "debug.log"), ("crashed", single / "debug.log")):
        assert "| failed |" in rows[job] and "NonFiniteError: Non-finite train/loss" in rows[job]
        assert f"log `{log}`" in rows[job]
        text = log.read_text()
        assert "Traceback" in text and "NonFiniteError: Non-finite train/loss" in text


@pytest.mark.slow
def test_optuna_search_resumes_its_study(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    search = ["-m", "hparams_search=vae_digits", *TINY, "logger=csv", "sweep.name=search"]
    proc = run_cli(*search, "hydra.sweeper.n_trials=2", cwd=tmp_path, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = sweep_dir(tmp_path, "search")
    assert (out / "optuna.db").is_file() and len(summary_rows(out)) == 2
    # the same command resumes the study; a larger budget adds only the missing trials
    proc = run_cli(*search, "hydra.sweeper.n_trials=3", cwd=tmp_path, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run_cli(*search, "hydra.sweeper.n_trials=3", cwd=tmp_path, env=ENV)  # done: no-op
    assert proc.returncode == 0, proc.stderr[-3000:]
    with sqlite3.connect(out / "optuna.db") as db:
        trials = db.execute("SELECT number, state FROM trials ORDER BY number").fetchall()
        params = db.execute("SELECT trial_id, param_name, param_value FROM trial_params"
                            ).fetchall()
        studies = db.execute("SELECT study_name FROM studies").fetchall()
    assert studies == [("vae_digits",)]
    assert trials == [(0, "COMPLETE"), (1, "COMPLETE"), (2, "COMPLETE")]
    by_trial: dict[int, tuple] = {}
    for trial_id, name, value in sorted(params):
        by_trial[trial_id] = (*by_trial.get(trial_id, ()), (name, value))
    assert len(set(by_trial.values())) == 3  # no trial repeated the first run's proposals
    rows = summary_rows(out)
    assert [r["job"] for r in rows] == ["0", "1", "2"]  # job number = trial number
    assert all(r["status"] == "completed" for r in rows)
    assert len({r["model.optimizer.lr"] for r in rows}) == 3


def test_fail_policy() -> None:
    check_policy("any", ["completed", "completed"])
    check_policy("all", ["completed", "failed"])
    check_policy("never", ["failed", "failed"])
    with pytest.raises(SweepFailedError):
        check_policy("any", ["completed", "failed"])
    with pytest.raises(SweepFailedError):
        check_policy("all", ["failed", "incomplete"])
    with pytest.raises(ConfigError):
        check_policy("some", ["failed"])
