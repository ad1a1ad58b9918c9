"""What evaluation costs a run: seconds of training, validation, the sample-quality suite,
checkpointing and the test, per preset, from Lightning's SimpleProfiler.

Each preset runs as `genlab-train` (a fresh interpreter) for `--epochs` epochs with the
suite every epoch, under `trainer.profiler=simple`; this script reads the reports'
per-action totals from the run's output and prints them per epoch / per
evaluation, then projects them onto the preset's full run (its own `max_epochs` and
`metrics.every_n_epochs`). All presets share one GENLAB_ROOT (fresh at the start), so the
metric classifier of a dataset is trained by the first preset that needs it and its
cached reference features are reused by the later ones — as in a sweep; the "suite setup"
column shows which run paid for it.

    python benchmarks/eval_cost.py                          # default run + MNIST presets
    python benchmarks/eval_cost.py --presets default --epochs 100   # the default run whole
    python benchmarks/eval_cost.py --smoke                  # tiny; tests/test_benchmarks.py
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import environment, genlab_train  # noqa: E402

SHARED_DATA = harness.SHARED_DATA
PRESETS = ("default", "vae_mnist", "dcgan_mnist", "cgan_mnist")
# preset → (max_epochs, suite every_n_epochs) of its full run, for the projection
FULL_RUN = {"default": (100, 10), "vae_mnist": (50, 10), "dcgan_mnist": (25, 10),
            "cgan_mnist": (25, 10)}
SMOKE = ["metrics.n_samples=40", "metrics.batch_size=20", "metrics.kid_subsets=5",
         "metrics.features.max_epochs=1", "+trainer.limit_train_batches=2",
         "+trainer.limit_val_batches=2", "+trainer.limit_test_batches=2"]

# report rows → the part of the run they belong to (the Action column's text)
PARTS = {
    "training": [r"^run_training_batch$"],
    "validation": [r"^\[Strategy\]\w+\.validation_step$",
                   r"^\[Callback\](?!SampleQuality)\w+\.on_validation_(epoch_)?end$"],
    "suite": [r"^\[Callback\]SampleQuality\.on_validation_epoch_end$"],
    "suite_setup": [r"^\[Callback\]SampleQuality\.setup$",
                    r"^\[Callback\]SampleQuality\.on_fit_start$"],
    "checkpoints": [r"^save_checkpoint$"],
}


def report_totals(text: str) -> dict[str, tuple[int, float]]:
    """action → (calls, total seconds) from a SimpleProfiler report's table."""
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[2].isdigit():
            out[cells[0]] = (int(cells[2]), float(cells[3]))
    return out


def reports(log: str) -> tuple[str, str]:
    """The FIT and the TEST report of `trainer.profiler=simple` from a run's output."""
    fit = log.split("FIT Profiler Report", 1)[1].split("TEST Profiler Report", 1)
    return fit[0], fit[1]


def part_seconds(totals: dict[str, tuple[int, float]], patterns: list[str]) -> float:
    return sum(t for name, (_, t) in totals.items() if any(re.search(p, name) for p in patterns))


def measure(preset: str, epochs: int, root: Path, data_dir: Path, extra: list[str]) -> dict:
    overrides = [] if preset == "default" else [f"experiment={preset}"]
    if "mnist" in preset:
        overrides += [f"paths.data_dir={data_dir}", "data.val_size=500"]
    overrides += [f"trainer.max_epochs={epochs}", "metrics.every_n_epochs=1", "logger=csv",
                  "+trainer.profiler=simple", *extra]
    proc = subprocess.run([*genlab_train(), *overrides], cwd=root, env=environment(root),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{preset}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    fit, test = (report_totals(r) for r in reports(proc.stdout + proc.stderr))
    seconds = {part: part_seconds(fit, patterns) for part, patterns in PARTS.items()}
    # one profiler runs through fit and test; "Total" is its time since it started
    seconds["test"] = test["Total"][1] - fit["Total"][1]
    evals = fit.get("[Callback]SampleQuality.on_validation_epoch_end", (0, 0.0))[0] - 1
    per = {"training_per_epoch": seconds["training"] / epochs,
           "validation_per_epoch": seconds["validation"] / (epochs + 1),  # + sanity check
           "suite_per_evaluation": seconds["suite"] / max(evals, 1),
           "checkpoints_per_epoch": seconds["checkpoints"] / epochs}
    max_epochs, every = FULL_RUN[preset]
    n_evals = max_epochs // every + (max_epochs % every != 0)
    projected = {"training": per["training_per_epoch"] * max_epochs,
                 "validation": per["validation_per_epoch"] * (max_epochs + 1),
                 "suite": per["suite_per_evaluation"] * n_evals,
                 "suite_setup": seconds["suite_setup"],
                 "checkpoints": per["checkpoints_per_epoch"] * max_epochs,
                 "test": seconds["test"]}
    total = sum(projected.values())
    return {"epochs": epochs, "suite_evaluations": evals, "seconds": seconds, "per": per,
            "full_run": {"max_epochs": max_epochs, "every_n_epochs": every,
                         "seconds": projected,
                         "share": {k: v / total for k, v in projected.items()}}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each measured run")
    parser.add_argument("--data-dir", type=Path, default=SHARED_DATA,
                        help="the folder holding MNIST/raw (default ../shared/data)")
    parser.add_argument("--override", nargs="*", default=[], help="extra genlab-train overrides")
    parser.add_argument("--smoke", action="store_true", help=" ".join(SMOKE))
    parser.add_argument("--out-dir", type=Path, default=None, help="default benchmarks/results")
    args = parser.parse_args()
    have_mnist = (args.data_dir / "MNIST" / "raw").is_dir()
    presets = [p for p in args.presets if have_mnist or "mnist" not in p]
    if len(presets) < len(args.presets):
        print(f"note: no MNIST under {args.data_dir}: the MNIST presets are left out")
    extra = [*(SMOKE if args.smoke else []), *args.override]
    epochs = 1 if args.smoke else args.epochs
    with tempfile.TemporaryDirectory() as tmp:
        results = {p: measure(p, epochs, Path(tmp), args.data_dir.resolve(), extra)
                   for p in presets}
    parts = ["training", "validation", "suite", "suite_setup", "checkpoints", "test"]
    harness.print_table(
        f"evaluation cost per preset ({epochs} measured epochs, suite every epoch)",
        ["preset", "train s/epoch", "val s/epoch", "suite s/eval", "suite setup s",
         "ckpt s/epoch", "test s"],
        [[p, f"{r['per']['training_per_epoch']:.2f}", f"{r['per']['validation_per_epoch']:.2f}",
          f"{r['per']['suite_per_evaluation']:.2f}", f"{r['seconds']['suite_setup']:.1f}",
          f"{r['per']['checkpoints_per_epoch']:.3f}", f"{r['seconds']['test']:.1f}"]
         for p, r in results.items()])
    harness.print_table(
        "projected onto each preset's full run (share of its profiled seconds)",
        ["preset", "epochs", "suite every", *parts],
        [[p, str(r["full_run"]["max_epochs"]), str(r["full_run"]["every_n_epochs"]),
          *(f"{r['full_run']['seconds'][k]:.1f} s ({r['full_run']['share'][k]:.0%})"
            for k in parts)] for p, r in results.items()])
    for p, r in results.items():
        share = r["full_run"]["share"]
        print(f"evaluation share {p}: "
              f"{share['validation'] + share['suite'] + share['suite_setup'] + share['test']:.3f}")
    harness.write_result("eval_cost", {
        "settings": {"presets": presets, "epochs": epochs, "overrides": extra,
                     "smoke": args.smoke},
        "results": results}, args.out_dir)


if __name__ == "__main__":
    main()
