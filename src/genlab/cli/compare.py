"""genlab-compare DIR [DIR ...]: the sweep summary (summary.csv, summary.md, plots) from
finished sweep directories or run directories, the same files a multirun writes at its end.

The columns are the config keys whose values differ between the runs (read from each
run's config_resolved.yaml, defaults included), then each run's status and final
metrics; failed runs show their reason (failure.json) and log. Settings run over several
seeds get a mean ± std row; a single run shows its value alone.

    genlab-compare logs/train/multiruns/vae_latent_dim            # rewrites its summary
    genlab-compare logs/train/multiruns/a logs/train/runs/x --out comparison/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from genlab import run_dir
from genlab.cli.reporting import reported_errors
from genlab.errors import ConfigError
from genlab.sweeps.compare import summarize
from genlab.sweeps.records import run_dirs_of


def summary_dir(dirs: list[Path], out: Path | None) -> Path:
    """Where the summary of `dirs` goes, once they are known to hold runs and it is known
    to be writable: ConfigError (or OutputNotWritableError) before anything is written."""
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:
        raise ConfigError("dirs", missing, "existing sweep or run directories",
                          f"No such directory: {', '.join(missing)}.")
    if out is None and len(dirs) > 1:
        raise ConfigError("--out", None, "a directory, when several directories are given",
                          "Say where the summary goes: --out DIR.")
    empty = [str(d) for d in dirs if not run_dirs_of(d)]
    if empty:
        raise ConfigError("dirs", empty, f"run directories (with {run_dir.HYDRA_DIR}/ or "
                          f"{run_dir.METRICS}) or sweep directories holding them",
                          f"None found in {', '.join(empty)}.")
    return run_dir.ensure_writable(out or dirs[0], "--out")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="genlab-compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="+", type=Path, help="sweep directories or run directories")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write the summary (default: the directory itself when "
                             "one sweep directory is given)")
    args = parser.parse_args(argv)
    with reported_errors():
        out = summary_dir(args.dirs, args.out)
        summarize(args.dirs, out)
    print((out / "summary.md").read_text())
    print(f"Wrote {out / 'summary.csv'}, {out / 'summary.md'} and plots.", file=sys.stderr)


if __name__ == "__main__":
    main()
