"""The README's default run: wall time and peak memory of `genlab-train` (the VAE on the
embedded digits, W&B offline, the default callbacks and sample-quality suite) as a fresh
user's first run — a new temporary directory as GENLAB_ROOT, so data, caches (the
sample-quality classifier is trained on first use) and logs start empty. Peak memory is
the largest resident set of the run's processes (`getrusage(RUSAGE_CHILDREN).ru_maxrss`,
what `/usr/bin/time -v` reports as "Maximum resident set size").

    python benchmarks/default_run.py
    python benchmarks/default_run.py --smoke     # one epoch, no sample-quality suite
    git worktree add /tmp/before <commit>        # side by side with an earlier commit:
    python benchmarks/default_run.py --baseline /tmp/before/src --rounds 2

With `--baseline SRC` the same command also runs from another checkout's `src/` (as
`python -m genlab.train` with SRC first on PYTHONPATH, so its own conf/), the two
alternating for `--rounds`; it prints the wall-time ratio (median of the per-round ratios)
and the run's headline metrics from both, to show they agree within noise.

With `--floor` each round also runs two cut-down variants of the current code, to show
what no evaluation policy can remove: `startup` (imports, config, W&B start; no training,
no test) and `training` (the same fit with the logger and nothing else: no metric suite,
no test, no callbacks, no checkpoints). Their ratios to the baseline are the floor of
the full run's ratio on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import environment, genlab_train  # noqa: E402

SMOKE = ["trainer.max_epochs=1", "metrics=none", "model.iwae_samples=10"]
FLOOR = {"startup": ["train=false", "test=false"],
         "training": ["metrics=none", "test=false", "callbacks=none",
                      "+trainer.enable_checkpointing=false"]}


HEADLINE = ("val/elbo", "test/elbo", "test/nll_iwae", "val/fid_classifier",
            "test/fid_classifier", "test/classifier_acc")


def one_run(cmd: list[str], src: Path | None) -> dict:
    """One fresh run (new GENLAB_ROOT): wall and CPU seconds, peak RSS of the run's own
    process tree, and its metrics.json."""
    with tempfile.TemporaryDirectory() as tmp:
        env = environment(Path(tmp))
        if src is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(src), env["PYTHONPATH"]])
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        stderr = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own usage
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)}: exit {proc.returncode}\n{stderr[-3000:]}")
        metrics = {}
        found = sorted(Path(tmp).glob("logs/train/runs/*/metrics.json"))
        if found:
            metrics = json.loads(found[-1].read_text())["metrics"]
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mib": usage.ru_maxrss / 1024,  # KiB on Linux
            "metrics": {k: metrics[k] for k in HEADLINE if k in metrics}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--override", nargs="*", default=[], help="extra genlab-train overrides")
    parser.add_argument("--smoke", action="store_true", help=" ".join(SMOKE))
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout's src/ to run side by side (alternated)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--floor", action="store_true",
                        help="also time the startup-only and training-only variants")
    parser.add_argument("--out-dir", type=Path, default=None, help="default benchmarks/results")
    args = parser.parse_args()
    overrides = [*(SMOKE if args.smoke else []), *args.override]
    cmd = [*genlab_train(), *overrides]
    load_before = [round(x, 2) for x in os.getloadavg()]
    variants = {"current": lambda: one_run(cmd, None)}
    if args.baseline is not None:
        base_cmd = [sys.executable, "-m", "genlab.train", *overrides]
        variants = {"baseline": lambda: one_run(base_cmd, args.baseline.resolve()), **variants}
    if args.floor:
        for name, extra in FLOOR.items():
            variants[name] = lambda extra=extra: one_run([*cmd, *extra], None)
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, run in variants.items():
            runs[name].append(run())
    command = " ".join(["genlab-train", *overrides])
    rows = [[name, str(i + 1), f"{r['wall_s']:.1f}", f"{r['cpu_s']:.1f}",
             f"{r['peak_rss_mib']:.0f}"] for name, rs in runs.items() for i, r in enumerate(rs)]
    harness.print_table(f"default run: {command}", ["code", "round", "wall s", "CPU s",
                                                    "peak RSS MiB"], rows)
    current = runs["current"]
    wall = harness.median([r["wall_s"] for r in current])
    peak_mib = max(r["peak_rss_mib"] for r in current)
    print(f"wall time: {wall:.1f} s; peak memory: {peak_mib:.0f} MiB")
    result = {"settings": {"command": command, "smoke": args.smoke, "rounds": args.rounds,
                           "baseline": str(args.baseline) if args.baseline else None,
                           "load_average_before": load_before},
              "wall_s": wall, "cpu_s": harness.median([r["cpu_s"] for r in current]),
              "peak_rss_mib": peak_mib, "runs": runs}
    if args.baseline is not None:
        ratio = harness.paired_ratio([r["wall_s"] for r in current],
                                     [r["wall_s"] for r in runs["baseline"]])
        print(f"ratio current/baseline (wall s): {ratio:.3f}")
        for name in FLOOR if args.floor else ():
            floor = harness.paired_ratio([r["wall_s"] for r in runs[name]],
                                         [r["wall_s"] for r in runs["baseline"]])
            print(f"ratio {name}/baseline (wall s): {floor:.3f}  ({' '.join(FLOOR[name])})")
            result[f"ratio_{name}_over_baseline"] = floor
        for key in HEADLINE:
            values = {name: [r["metrics"].get(key) for r in runs[name]]
                      for name in ("baseline", "current")}
            print(f"{key}: " + "; ".join(f"{name} {vals}" for name, vals in values.items()))
        result["ratio_current_over_baseline"] = ratio
    harness.write_result("default_run", result, args.out_dir)


if __name__ == "__main__":
    main()
