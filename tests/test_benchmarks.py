"""Each benchmark in benchmarks/ runs in its --smoke mode as a user would run it (a fresh
interpreter), prints its table and ratios, and writes its JSON result. Timings are never
asserted: only the format."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MACHINE_KEYS = {"cpu", "cores", "torch", "torch_threads", "python", "load_average", "gpu"}


def run_benchmark(name: str, out_dir: Path, *args: str) -> tuple[str, dict]:
    """Run benchmarks/<name>.py --smoke [args]; return its stdout and its JSON result."""
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), "--smoke",
         "--out-dir", str(out_dir), *args],
        cwd=out_dir, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    result = json.loads((out_dir / f"{name}.json").read_text())
    assert result["benchmark"] == name
    assert set(result["machine"]) >= MACHINE_KEYS
    assert result["settings"]["smoke"] is True
    return proc.stdout, result


SHARED_MNIST = ROOT.parent / "shared" / "data"


def test_overhead_smoke(tmp_path: Path) -> None:
    # the digits presets and, on the shared MNIST, the conditional one at 32×32 (the
    # other MNIST presets take the same code path; their full runs are benchmarks/README's)
    models = ["vae", "dcgan"]
    if (SHARED_MNIST / "MNIST" / "raw").is_dir():
        models.append("cgan_mnist")
    stdout, result = run_benchmark("overhead", tmp_path, "--split-logging", "--models", *models,
                                   "--data-dir", str(SHARED_MNIST))
    assert "genlab vs plain PyTorch loop" in stdout
    assert list(result["results"]) == models
    for model in models:
        assert re.search(rf"ratio {model} genlab/plain \(s per step\): \d+\.\d+", stdout)
        assert re.search(rf"ratio {model} genlab without self.log/plain \(s per step\): "
                         r"\d+\.\d+", stdout)
        assert re.search(rf"ratio {model} bare Lightning/plain \(s per step\): \d+\.\d+", stdout)
        assert re.search(rf"ratio {model} genlab/bare Lightning \(s per step\): \d+\.\d+",
                         stdout)
        r = result["results"][model]
        assert {"batch_size", "genlab_steps_per_s", "plain_steps_per_s",
                "genlab_median_steps_per_s", "plain_median_steps_per_s", "ratio",
                "target_ratio", "ratio_without_logging",
                "genlab_without_logging_steps_per_s", "lightning_steps_per_s",
                "ratio_lightning_over_plain", "ratio_genlab_over_lightning"} <= set(r)
        assert (len(r["genlab_steps_per_s"]) == len(r["plain_steps_per_s"])
                == len(r["lightning_steps_per_s"]) == 1)
        # the per-round ratios multiply: genlab/plain = genlab/Lightning × Lightning/plain
        assert r["ratio"] == pytest.approx(
            r["ratio_genlab_over_lightning"] * r["ratio_lightning_over_plain"])
        assert r["target_ratio"] == (1.05 if r["real_size"] else 1.10)
        assert r["target_ratio_lightning"] == 1.05
    assert result["results"]["vae"]["batch_size"] == 64  # data=digits default
    assert result["results"]["dcgan"]["batch_size"] == 128  # the dcgan_digits preset
    if "cgan_mnist" in models:  # the preset's batch, read from the real MNIST
        assert result["results"]["cgan_mnist"]["batch_size"] == 64
        assert result["settings"]["data_dir"] == str(SHARED_MNIST.resolve())


def test_overhead_refuses_mnist_presets_without_mnist(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "overhead.py"), "--smoke", "--models",
         "vae_mnist", "--data-dir", str(tmp_path), "--out-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "no MNIST/raw there for vae_mnist" in proc.stderr


def test_startup_smoke(tmp_path: Path) -> None:
    stdout, result = run_benchmark("startup", tmp_path)
    assert "genlab-train → first training step" in stdout
    assert re.search(r"ratio first step / import lightning: \d+\.\d+", stdout)
    assert re.search(r"rejected config: \d+\.\d+ s", stdout)
    names = {"first_step", "import_lightning", "rejected_config"}
    assert set(result["seconds"]) == set(result["median_seconds"]) == names
    assert result["first_step_over_import_lightning"] > 0
    assert set(result["targets"]) == {"rejected_config_s", "first_step_over_import_lightning"}


def test_fid_throughput_smoke(tmp_path: Path) -> None:
    stdout, result = run_benchmark("fid_throughput", tmp_path)
    assert re.search(r"ratio genlab/torch-fidelity \(images/s\): \d+\.\d+", stdout)
    assert result["settings"]["n_per_set"] == 12
    assert len(result["genlab_images_per_s"]) == len(result["torch_fidelity_images_per_s"]) == 1
    assert result["ratio_genlab_over_torch_fidelity"] == pytest.approx(
        result["genlab_images_per_s"][0] / result["torch_fidelity_images_per_s"][0])


def test_default_run_smoke(tmp_path: Path) -> None:
    stdout, result = run_benchmark("default_run", tmp_path, "--floor")
    assert re.search(r"wall time: \d+\.\d+ s; peak memory: \d+ MiB", stdout)
    assert {"wall_s", "cpu_s", "peak_rss_mib"} <= set(result)
    # the floor variants ran as well: start-up only, and training without any evaluation
    assert list(result["runs"]) == ["current", "startup", "training"]
    assert all(r["wall_s"] > 0 for rs in result["runs"].values() for r in rs)
    assert not result["runs"]["startup"][0]["metrics"]  # no fit, no test: no metrics
    assert result["settings"]["command"].startswith("genlab-train ")
    assert list(tmp_path.iterdir()) == [tmp_path / "default_run.json"]  # nothing else left


@pytest.mark.skipif(not (SHARED_MNIST / "MNIST" / "raw").is_dir(), reason="needs ../shared MNIST")
def test_memory_format_smoke(tmp_path: Path) -> None:
    stdout, result = run_benchmark("memory_format", tmp_path, "--data-dir", str(SHARED_MNIST))
    assert list(result["results"]) == ["vae_mnist", "dcgan_mnist", "cgan_mnist"]
    for name, r in result["results"].items():
        assert re.search(rf"ratio {name} step NCHW/NHWC \(s per step\): \d+\.\d+", stdout)
        assert len(r["step_s"]["nchw"]) == len(r["step_s"]["nhwc"]) == 1
    vae = result["results"]["vae_mnist"]
    assert vae["iwae_k"] == 20 and vae["iwae_images"] == 4
    # both layouts compute the same bound (float rounding apart): a layout bug shows here
    assert vae["iwae_max_abs_diff_nats"] < 1e-2


@pytest.mark.parametrize("name", ["overhead", "startup", "default_run", "eval_cost",
                                  "fid_throughput", "gpu_fast_paths", "memory_format"])
def test_benchmark_help(name: str) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "--smoke" in proc.stdout


def test_eval_cost_smoke(tmp_path: Path) -> None:
    stdout, result = run_benchmark("eval_cost", tmp_path, "--presets", "default")
    assert re.search(r"evaluation share default: \d\.\d+", stdout)
    r = result["results"]["default"]
    assert r["suite_evaluations"] == 1  # the suite every epoch, 1 epoch (sanity check excluded)
    assert set(r["full_run"]["seconds"]) == {"training", "validation", "suite", "suite_setup",
                                             "checkpoints", "test"}
    assert r["seconds"]["training"] > 0 and r["seconds"]["suite"] > 0
    assert r["seconds"]["test"] > 0 and r["seconds"]["suite_setup"] > 0
    assert sum(r["full_run"]["share"].values()) == pytest.approx(1.0)
