"""Dashboards that compare runs as they are (issue 25): W&B runs named by what sets them
apart in their sweep, a flat config without duplicates, best-value summaries in the right
direction for every val/test metric; TensorBoard's HPARAMS view of a sweep, read from a
real `tensorboard` server on loopback."""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import run_cli
from genlab.runtime.trackers import direction
from wandb_records import config, records, table

SWEEP = ["-m", "seed=1,2", "logger=many", "trainer.max_epochs=2", "metrics=none",
         "callbacks=checkpoint", "+trainer.limit_train_batches=4", "model.iwae_samples=4",
         "trainer.enable_progress_bar=false", "hydra.sweep.dir=sweep"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dash")
    proc = run_cli(*SWEEP, cwd=root, env={"OMP_NUM_THREADS": "1",
                                          "GENLAB_CACHE": str(root / "cache")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root / "sweep"


def _summary(recs: list[dict]) -> dict:
    merged: dict = {}
    for r in recs:
        if r["type"] == "summary":
            merged.update(r["summary"]["update"])
    return merged


def test_sweep_runs_are_named_by_their_overrides_and_config_is_flat(sweep: Path) -> None:
    """Rules out every job of a sweep named `digits-vae`, and the model's
    hyper-parameters in the W&B config twice (Lightning's own hparams logging put `beta`,
    `latent_dim`, `name`, `optimizer` at the top level beside `model.*`)."""
    names = []
    for job in ("0", "1"):
        [run_dir] = (sweep / job / "wandb").glob("offline-run-*")
        recs = records(run_dir)
        names.append(next(r["run"] for r in recs if r["type"] == "run")["display_name"])
        conf = config(recs)
        assert conf["model.latent_dim"] == 16
        assert not {"latent_dim", "beta", "name", "optimizer", "data_shape"} & set(conf)
        summary = _summary(recs)
        record = json.loads((sweep / job / "metrics.json").read_text())
        assert summary["val/elbo"] == {"max": max(
            float(r["val/elbo"]) for r in _csv(sweep / job) if r.get("val/elbo"))}
        assert summary["test/nll_iwae"] == {"min": record["test"]["values"]["test/nll_iwae"]}
        assert summary["best/epoch"] == record["best"]["epoch"]
    assert names == ["digits-vae seed=1", "digits-vae seed=2"]


def test_seed_only_sweep_has_one_summary_row_in_its_wandb_group(sweep: Path) -> None:
    """The 2-seed sweep's group gets a summary run whose table has one row: both runs,
    the mean and std of their test/nll_iwae. Rules out per-run rows and a missing std
    (a run's own values copied instead of averaged)."""
    [summary_run] = (sweep / "wandb").glob("offline-run-*")
    recs = records(summary_run)
    run = next(r["run"] for r in recs if r["type"] == "run")
    assert run["display_name"] == "sweep-summary" and run["run_group"] == "sweep"
    got = table(summary_run, recs, "sweep/summary")
    [row] = got["data"]
    values = [json.loads((sweep / job / "metrics.json").read_text())["test"]["values"]
              ["test/nll_iwae"] for job in ("0", "1")]
    at = got["columns"].index("test/nll_iwae mean")
    assert row[:2] == ["all runs", 2]
    assert row[at:at + 2] == pytest.approx([statistics.fmean(values), statistics.stdev(values)])


def _csv(run: Path) -> list[dict]:
    import csv

    with open(run / "csv" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_every_metric_family_has_a_direction() -> None:
    """The suite's names (`val/fid_classifier`, `val/is_classifier`, ...) get their family's
    direction; the judge's own accuracy and plain terms get none. Rules out a glob that
    matched only some names (val/is_classifier stayed a last value in W&B)."""
    assert direction("val/fid_classifier") == "min" and direction("val/is_classifier") == "max"
    assert direction("val/precision_classifier") == "max"
    assert direction("test/kid_inception") == "min" and direction("test/nll_iwae") == "min"
    assert direction("val/elbo") == "max" and direction("val/class_acc") == "max"
    assert direction("val/classifier_acc") is None and direction("val/kl") is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # loopback only
        return json.loads(resp.read())


def test_tensorboard_hparams_compare_the_sweep(sweep: Path) -> None:
    """A real `tensorboard` on 127.0.0.1 over the sweep's two runs: its HPARAMS endpoint
    lists both sessions with their seed and the final record's metrics. Rules out
    `default_hp_metric: false` with no hparams data (the HPARAMS view was empty)."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(sweep), "--host",
         "127.0.0.1", "--port", str(port), "--load_fast", "false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}/data/plugin/hparams"
        deadline = time.monotonic() + 90
        groups: list = []
        while time.monotonic() < deadline:
            try:
                groups = _post(f"{base}/session_groups",
                               {"experimentName": "", "startIndex": 0, "sliceSize": 10,
                                "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS",
                                                    "STATUS_FAILURE", "STATUS_RUNNING"],
                                "colParams": []}).get("sessionGroups", [])
            except OSError:
                groups = []
            if len(groups) >= 2:
                break
            time.sleep(1)
        assert len(groups) == 2, groups
        seeds = sorted(g["hparams"]["seed"] for g in groups)
        assert seeds == [1, 2]
        for g in groups:
            metrics = {m["name"]["tag"]: m["value"] for m in g["metricValues"]}
            assert {"record/val/elbo", "record/test/elbo", "record/test/nll_iwae"} <= set(metrics)
        experiment = _post(f"{base}/experiment", {"experimentName": ""})
        names = {h["name"] for h in experiment["hparamInfos"]}
        assert {"seed", "model.latent_dim", "data.name"} <= names
    finally:
        server.terminate()
        server.wait(timeout=30)
