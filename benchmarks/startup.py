"""Startup: seconds from the command to the first training step of the README's default
`genlab-train`, vs `python -c "import lightning"`, and seconds to a rejected config
(`genlab-train model.latent_dim=0`). Each is a fresh process; the three alternate, `rounds`
times, after one untimed run of each (so caches — bytecode, the sample-quality
classifier — are warm, as on a second run). The first step is marked by a callback that
prints a line when the first training batch starts (benchmarks/step_clock.py); that run
stops after one step without testing (`trainer.max_steps=1 test=false`), which changes
nothing before the first step.

Targets: rejected config ≤ 1.5 s; first step ≤ 1.5 × import lightning.

    python benchmarks/startup.py
    python benchmarks/startup.py --smoke        # one round, no warm-up
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import environment, genlab_train  # noqa: E402
from step_clock import FIRST_STEP_MARKER  # noqa: E402

TARGET_REJECTED_S = 1.5
TARGET_FIRST_STEP_RATIO = 1.5
SMOKE = ["metrics=none"]  # a cold cache would train the sample-quality classifier first


def seconds_to_first_step(root: Path, overrides: list[str]) -> float:
    """Start the default run with the first-step marker; seconds until the marker line."""
    cmd = [*genlab_train(), "+callbacks.first_step._target_=step_clock.FirstStepMarker",
           "++trainer.max_steps=1", "test=false", *overrides]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=root, env=environment(root), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen, lines = None, []
    for line in proc.stdout:
        if seen is None and line.strip() == FIRST_STEP_MARKER:
            seen = time.perf_counter() - start
        lines.append(line)
    proc.wait()
    if seen is None or proc.returncode != 0:
        raise RuntimeError(f"no first step (exit {proc.returncode}):\n{''.join(lines[-30:])}")
    return seen


def seconds_to_run(cmd: list[str], root: Path, expect_ok: bool) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, env=environment(root), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if (proc.returncode == 0) != expect_ok:
        raise RuntimeError(f"{cmd}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--smoke", action="store_true",
                        help="one round, no warm-up run, first step with " + " ".join(SMOKE))
    parser.add_argument("--out-dir", type=Path, default=None, help="default benchmarks/results")
    args = parser.parse_args()
    rounds = 1 if args.smoke else args.rounds
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        variants = {
            "first_step": lambda: seconds_to_first_step(root, SMOKE if args.smoke else []),
            "import_lightning": lambda: seconds_to_run(
                [sys.executable, "-c", "import lightning"], root, expect_ok=True),
            "rejected_config": lambda: seconds_to_run(
                [*genlab_train(), "model.latent_dim=0"], root, expect_ok=False),
        }
        # one untimed round first: it fills the caches (a first run trains the classifier)
        cold = {} if args.smoke else harness.alternate(variants, 1)
        seconds = harness.alternate(variants, rounds)
    medians = {name: harness.median(values) for name, values in seconds.items()}
    ratio = harness.paired_ratio(seconds["first_step"], seconds["import_lightning"])
    harness.print_table(
        f"startup: seconds (median of {rounds} alternated rounds)",
        ["command", "seconds", "target"],
        [["genlab-train → first training step", f"{medians['first_step']:.2f}",
          f"≤ {TARGET_FIRST_STEP_RATIO} × import lightning"],
         ['python -c "import lightning"', f"{medians['import_lightning']:.2f}", ""],
         ["genlab-train model.latent_dim=0 (rejected)", f"{medians['rejected_config']:.2f}",
          f"≤ {TARGET_REJECTED_S} s"]])
    print(f"ratio first step / import lightning: {ratio:.3f}")
    print(f"rejected config: {medians['rejected_config']:.3f} s")
    harness.write_result("startup", {
        "settings": {"rounds": rounds, "smoke": args.smoke},
        "seconds": seconds,
        "median_seconds": medians,
        "cold_seconds": {name: values[0] for name, values in cold.items()},
        "first_step_over_import_lightning": ratio,
        "targets": {"rejected_config_s": TARGET_REJECTED_S,
                    "first_step_over_import_lightning": TARGET_FIRST_STEP_RATIO},
    }, args.out_dir)


if __name__ == "__main__":
    main()
