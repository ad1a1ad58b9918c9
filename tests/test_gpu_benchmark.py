"""benchmarks/gpu_fast_paths.py: its --smoke mode runs on the CPU as a user would run it
(a fresh interpreter), prints its table and ratio, and writes its JSON result; without a
GPU the full run refuses with exit status 2 (its --help: tests/test_benchmarks.py).
Timings are never asserted: only the format."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from test_benchmarks import ROOT, run_benchmark

SCRIPT = ROOT / "benchmarks" / "gpu_fast_paths.py"


def test_gpu_fast_paths_smoke(tmp_path: Path) -> None:
    stdout, result = run_benchmark("gpu_fast_paths", tmp_path)
    assert "DCGAN 16×16, batch 8, on the CPU: training images/s" in stdout
    assert re.search(r"ratio fast/fp32 eager \(images/s\): \d+\.\d{3}\n", stdout)
    settings = result["settings"]
    assert settings["device"] == "cpu" and result["gpu"] is None
    assert settings["fast_is_cpu_safe_subset"] is True
    assert {"rounds", "batch", "image_size", "fp32_eager_overrides", "fast_overrides",
            "steps", "warmup", "images", "num_workers", "common_overrides"} <= set(settings)
    assert (settings["rounds"], settings["batch"], settings["image_size"]) == (2, 8, 16)
    # the smoke's fast variant: the CPU-safe subset, neither bf16 nor compiled
    assert "trainer.precision=32-true" in settings["fast_overrides"]
    assert "++callbacks.performance.compile=false" in settings["fast_overrides"]
    assert "++callbacks.performance.channels_last=true" in settings["fast_overrides"]
    assert "++callbacks.performance.channels_last=false" in settings["fp32_eager_overrides"]
    # genlab's real path: the DCGAN on an image folder, the performance callback kept
    common = settings["common_overrides"]
    assert {"model=dcgan", "data=image_folder", "data.image_size=16", "data.batch_size=8",
            "trainer.accelerator=cpu"} <= set(common)
    assert ("+callbacks.performance._target_=genlab.callbacks.performance.PerformanceOptions"
            in common)
    for name in ("fp32_eager", "fast"):
        values = result[f"{name}_images_per_s"]
        assert len(values) == settings["rounds"] and all(v > 0 for v in values)
        assert result[f"{name}_median_images_per_s"] > 0
    assert result["ratio_fast_over_fp32_eager"] > 0
    assert result["target_ratio"] == 2.0
    assert isinstance(result["meets_target"], bool)
    assert result["loader_images_per_s"] > 0
    assert result["compile_fallbacks"] == {"fp32_eager": [], "fast": []}
    assert {"torch", "cuda", "cudnn", "cudnn_allow_tf32"} <= set(result)
    assert not list(tmp_path.rglob("*.png"))  # the image folder was temporary


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without CUDA")
def test_gpu_fast_paths_needs_a_gpu(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out-dir", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if "needs a CUDA GPU" in line]
    assert len(lines) == 1 and "--smoke" in lines[0] and "--allow-cpu" in lines[0]
    assert not list(tmp_path.iterdir())  # nothing written

