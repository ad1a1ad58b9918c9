"""benchmarks/fid_throughput.py runs (tiny) and writes its JSON."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_fid_throughput_smoke(tmp_path: Path) -> None:
    out = tmp_path / "fid_throughput.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fid_throughput.py"),
                           "--smoke", "--out-dir", str(tmp_path)], capture_output=True, text=True,
                          timeout=600, env={"OMP_NUM_THREADS": "1", "PATH": ""})
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["ratio_genlab_over_torch_fidelity"] > 0
    assert result["settings"]["n_per_set"] == 12 and result["machine"]["cores"] >= 1
    assert len(result["genlab_images_per_s"]) == len(result["torch_fidelity_images_per_s"]) == 1
    assert "ratio genlab/torch-fidelity (images/s):" in proc.stdout
