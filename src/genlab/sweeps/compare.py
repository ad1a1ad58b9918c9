"""genlab-compare DIR [DIR ...]: the sweep summary (summary.csv, summary.md, plots) from
finished sweep directories or run directories, the same files a multirun writes at its end.

    genlab-compare logs/train/multiruns/vae_latent_dim            # rewrites its summary
    genlab-compare logs/train/multiruns/a logs/train/runs/x --out comparison/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from genlab.sweeps.records import RunRecord, read_run, run_dirs_of


def summarize(dirs: list[Path], out_dir: Path) -> list[RunRecord]:
    """Read every run under `dirs`, write the summary and plots into `out_dir`."""
    from genlab.sweeps.plots import plot_all
    from genlab.sweeps.summary import markdown, write_csv

    records = []
    for path in dirs:
        for run_dir in run_dirs_of(path):
            record = read_run(run_dir)
            if len(dirs) > 1 and run_dir != path:  # job numbers repeat across sweeps
                record.job = f"{path.name}/{record.job}"
            records.append(record)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = plot_all(records, out_dir)
    write_csv(records, out_dir / "summary.csv")
    (out_dir / "summary.md").write_text(markdown(records, plots))
    return records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="genlab-compare", description=__doc__.split("\n")[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="sweep directories or run directories")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write the summary (default: the directory itself when "
                             "one sweep directory is given)")
    args = parser.parse_args(argv)
    missing = [str(d) for d in args.dirs if not d.is_dir()]
    if missing:
        parser.error(f"not a directory: {', '.join(missing)}")
    if args.out is None and len(args.dirs) > 1:
        parser.error("several directories: say where the summary goes with --out DIR")
    records = summarize(args.dirs, args.out or args.dirs[0])
    if not records:
        parser.error("no run directories (with .hydra/ or metrics.json) found")
    out = args.out or args.dirs[0]
    print((out / "summary.md").read_text())
    print(f"Wrote {out / 'summary.csv'}, {out / 'summary.md'} and plots.", file=sys.stderr)


if __name__ == "__main__":
    main()
