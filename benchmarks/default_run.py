"""The README's default run: wall time and peak memory of `genlab-train` (the VAE on the
embedded digits, W&B offline, the default callbacks and sample-quality suite) as a fresh
user's first run — a new temporary directory as GENLAB_ROOT, so data, caches (the
sample-quality classifier is trained on first use) and logs start empty. Peak memory is
the largest resident set of the run's processes (`getrusage(RUSAGE_CHILDREN).ru_maxrss`,
what `/usr/bin/time -v` reports as "Maximum resident set size").

    python benchmarks/default_run.py
    python benchmarks/default_run.py --smoke     # one epoch, no sample-quality suite
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import environment, genlab_train  # noqa: E402

SMOKE = ["trainer.max_epochs=1", "metrics=none", "model.iwae_samples=10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--override", nargs="*", default=[], help="extra genlab-train overrides")
    parser.add_argument("--smoke", action="store_true", help=" ".join(SMOKE))
    parser.add_argument("--out-dir", type=Path, default=None, help="default benchmarks/results")
    args = parser.parse_args()
    overrides = [*(SMOKE if args.smoke else []), *args.override]
    cmd = [*genlab_train(), *overrides]
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=tmp, env=environment(Path(tmp)), capture_output=True,
                              text=True)
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_mib = usage.ru_maxrss / 1024  # KiB on Linux
    command = " ".join(["genlab-train", *overrides])
    harness.print_table("default run", ["command", "wall s", "CPU s", "peak RSS MiB"],
                        [[command, f"{wall:.1f}", f"{usage.ru_utime + usage.ru_stime:.1f}",
                          f"{peak_mib:.0f}"]])
    print(f"wall time: {wall:.1f} s; peak memory: {peak_mib:.0f} MiB")
    harness.write_result("default_run", {
        "settings": {"command": command, "smoke": args.smoke, "load_average_before": load_before},
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mib": peak_mib,
    }, args.out_dir)


if __name__ == "__main__":
    main()
