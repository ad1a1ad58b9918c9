"""genlab-eval, genlab-sample and genlab-fetch on tiny trained checkpoints, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli, run_dirs
from fake_datasets import write_mnist
from test_tracking import assert_readable

TRAIN = ["trainer.max_epochs=1", "logger=csv", "metrics=none", "callbacks=checkpoint",
         "run_id=tiny"]
EVAL_METRICS = ["metrics.n_samples=200", "metrics.batch_size=100", "metrics.kid_subsets=5",
                "metrics.features.max_epochs=2"]
ENV = {"OMP_NUM_THREADS": "1"}


@pytest.fixture
def vae_ckpt(tmp_path: Path) -> Path:
    proc = run_cli(*TRAIN, "model.iwae_samples=10", cwd=tmp_path, env=ENV)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return tmp_path / "logs" / "train" / "runs" / "tiny" / "checkpoints" / "last.ckpt"


def test_eval_writes_elbo_nll_and_the_metric_suite(vae_ckpt: Path, tmp_path: Path) -> None:
    proc = run_cli(f"ckpt_path={vae_ckpt}", *EVAL_METRICS, cwd=tmp_path, module="genlab.cli.eval",
                   env=ENV)
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads((run_dirs(tmp_path, "eval")[0] / "eval.json").read_text())
    metrics = record["metrics"]
    assert {"test/elbo", "test/nll_iwae", "test/fid_classifier", "test/kid_classifier",
            "test/precision_classifier", "test/recall_classifier"} <= set(metrics)
    assert "test/fid" not in metrics  # bare names are Inception's
    assert record["features"] == "classifier"


def test_sample_grid_npz_and_interpolation(vae_ckpt: Path, tmp_path: Path) -> None:
    proc = run_cli(f"ckpt_path={vae_ckpt}", "n=12", "interpolate=true", "steps=4",
                   cwd=tmp_path, module="genlab.cli.sample", env=ENV)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = run_dirs(tmp_path, "sample")[0]
    samples = np.load(out / "samples.npz", allow_pickle=False)
    assert samples["images"].shape == (12, 1, 8, 8) and samples["labels"].size == 0
    assert samples["images"].min() >= 0 and samples["images"].max() <= 1
    assert np.load(out / "interpolation.npz")["images"].shape == (12, 1, 8, 8)
    assert_readable(out / "samples.png")
    assert_readable(out / "interpolation.png")
    bad = run_cli(f"ckpt_path={vae_ckpt}", "labels=[1]", cwd=tmp_path, module="genlab.cli.sample")
    assert bad.returncode == 2 and "unconditional" in bad.stderr


def test_sample_labels_for_a_conditional_gan(tmp_path: Path) -> None:
    proc = run_cli("experiment=cgan_digits", "optimized_metric=null",
                   "model.generator.base_channels=8",
                   "model.discriminator.base_channels=8", *TRAIN, cwd=tmp_path, env=ENV)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ckpt = tmp_path / "logs" / "train" / "runs" / "tiny" / "checkpoints" / "last.ckpt"
    proc = run_cli(f"ckpt_path={ckpt}", "n=6", "labels=[3,7]", cwd=tmp_path,
                   module="genlab.cli.sample", env=ENV)
    assert proc.returncode == 0, proc.stderr[-2000:]
    labels = np.load(run_dirs(tmp_path, "sample")[0] / "samples.npz")["labels"]
    assert labels.tolist() == [3, 3, 3, 7, 7, 7]  # one row per class, captioned
    png = run_dirs(tmp_path, "sample")[0] / "samples.png"
    assert_readable(png)
    with Image.open(png) as img:
        assert "one row per class" in img.text["Title"]


def test_fetch_without_network_fails_clearly(tmp_path: Path) -> None:
    # a proxy that refuses connections: no download can succeed, whatever the machine
    offline = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
               "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    proc = run_cli("datasets=[mnist]", "timeout=5", cwd=tmp_path, module="genlab.cli.fetch",
                   env=offline, timeout=120)
    assert proc.returncode == 1
    assert "MISSING  mnist" in proc.stdout and "MISSING  inception weights" in proc.stdout
    assert "Could not fetch" in proc.stderr and "weights-inception" in proc.stderr


def test_fetch_lists_what_is_present(tmp_path: Path) -> None:
    write_mnist(tmp_path / "data", "MNIST", n_train=4, n_test=2)
    proc = run_cli("datasets=[mnist]", "inception=false", cwd=tmp_path, module="genlab.cli.fetch")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "present  mnist" in proc.stdout
