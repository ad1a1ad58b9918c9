"""Read an offline W&B run with `wandb leet inspect --json` (one JSON record per line)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def offline_run_dir(output_dir: Path) -> Path:
    runs = sorted((output_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, f"expected one offline W&B run in {output_dir}, found {runs}"
    return runs[0]


def records(run_dir: Path) -> list[dict]:
    # `python -m wandb`: CI runs `.venv/bin/python -m pytest` without the venv on PATH
    out = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json",
                          str(run_dir)],
                         capture_output=True, text=True, check=True, timeout=120)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def config(recs: list[dict]) -> dict:
    merged: dict = {}
    for r in recs:
        if r["type"] == "config":
            merged.update(r["config"].get("update", {}))
    return merged


def history(recs: list[dict]) -> list[dict]:
    return [r["history"]["item"] for r in recs if r["type"] == "history"]


def table(run_dir: Path, recs: list[dict], key: str) -> dict:
    """The last W&B Table logged under `key`: {"columns": [...], "data": [[...], ...]}."""
    [*_, item] = [h for h in history(recs) if h.get(f"{key}._type") == "table-file"]
    return json.loads((run_dir / "files" / item[f"{key}.path"]).read_text())
