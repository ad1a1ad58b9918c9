"""genlab-compare DIR [DIR ...]: the sweep summary (summary.csv, summary.md, plots) from
finished sweep directories or run directories, the same files a multirun writes at its end.

    genlab-compare logs/train/multiruns/vae_latent_dim            # rewrites its summary
    genlab-compare logs/train/multiruns/a logs/train/runs/x --out comparison/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from genlab import run_dir
from genlab.sweeps.compare import summarize


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
        parser.error(f"no run directories (with {run_dir.HYDRA_DIR}/ or {run_dir.METRICS}) found")
    out = args.out or args.dirs[0]
    print((out / "summary.md").read_text())
    print(f"Wrote {out / 'summary.csv'}, {out / 'summary.md'} and plots.", file=sys.stderr)


if __name__ == "__main__":
    main()
