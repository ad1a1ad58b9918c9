"""benchmarks/gpu_check.sh where there is no GPU (this machine): it parses (`bash -n`), and
run as on a GPU machine it collects the gpu tier, which skips saying why, writes every
result under $OUT and nowhere else, does not run the benchmark, and exits 2. Rules out a
script that dies before writing its summary without CUDA, one that reports success where
nothing was measured, and one that writes next to the code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def test_gpu_check_parses() -> None:
    done = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: the script would use it")
def test_gpu_check_without_a_gpu_degrades_cleanly(tmp_path: Path) -> None:
    out = tmp_path / "out"
    before = sorted((ROOT / "benchmarks" / "results").iterdir())
    env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable,
           # install nothing: this machine's environment is the project's own
           "GPU_CHECK_SKIP_INSTALL": "1"}
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    assert "no CUDA device" in done.stdout and "Traceback" not in done.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cuda"] is False and summary["steps"]["gpu_tier"]["exit"] == 0
    suite = ET.parse(out / "gpu_tier.xml").getroot().find("testsuite")
    assert int(suite.get("tests")) >= 10 and suite.get("skipped") == suite.get("tests")
    assert "no CUDA device" in (out / "gpu_tier.log").read_text()
    assert not (out / "fast_paths").exists()
    assert sorted((ROOT / "benchmarks" / "results").iterdir()) == before
