"""The sweep summary (summary.csv, summary.md, plots) of finished sweep directories or run
directories: what a multirun writes at its end (genlab/sweeps/hydra_callback.py) and what
genlab-compare (genlab/cli/compare.py) writes on demand."""

from __future__ import annotations

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
