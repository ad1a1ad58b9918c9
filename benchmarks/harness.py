"""What every benchmark here shares: alternating rounds (A B A B …) in one run, medians,
a description of the machine, a printed table and a JSON result under benchmarks/results/.

Timings on a shared machine drift with its load, so the variants of a benchmark are timed
in turns within one run and compared by medians; a ratio is the median of the per-round
ratios, so a round is compared only with the other variant's run in the same round.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
# the real MNIST subset beside the repository (../shared/data), read by the MNIST presets
SHARED_DATA = HERE.parent.parent / "shared" / "data"


def alternate(variants: Mapping[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Call each variant once per round, in the given order, `rounds` times:
    {name: [value of round 1, round 2, ...]}."""
    values: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, measure in variants.items():
            values[name].append(measure())
    return values


def genlab_train() -> list[str]:
    """The installed `genlab-train` script of this interpreter's environment."""
    script = Path(sys.executable).parent / "genlab-train"
    return [str(script)] if script.exists() else [sys.executable, "-m", "genlab.train"]


def environment(root: Path) -> dict[str, str]:
    """The environment of a genlab subprocess: GENLAB_ROOT = `root` (data, caches and logs
    all under it), W&B offline, and benchmarks/ on PYTHONPATH for the step_clock callbacks."""
    env = {**os.environ, "GENLAB_ROOT": str(root), "WANDB_MODE": "offline",
           "WANDB_SILENT": "true", "PYTHONPATH": os.pathsep.join(
               [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])])}
    for key in ("GENLAB_CACHE", "WANDB_DIR", "HYDRA_FULL_ERROR"):
        env.pop(key, None)  # everything under the temporary root
    return env


def median(values: list[float]) -> float:
    return statistics.median(values)


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """The median over rounds of numerator[i] / denominator[i]."""
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))


def machine() -> dict:
    """CPU model, cores, torch version and threads, and the load average right now."""
    import torch

    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*row)
    Console(width=120).print(table)


def write_result(name: str, result: dict, results_dir: Path | None = None) -> Path:
    """Write `result` (with the machine description added) to <results_dir>/<name>.json."""
    out_dir = results_dir or RESULTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "machine": machine(), **result}, indent=2))
    print(f"wrote {path}")
    return path
