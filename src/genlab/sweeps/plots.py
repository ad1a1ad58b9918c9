"""Sweep plots with matplotlib's Agg backend: the objective against each swept key (mean ±
std over seeds) and the learning curves of all runs overlaid."""

from __future__ import annotations

import csv
from pathlib import Path

from genlab import run_dir
from genlab.sweeps.records import RunRecord
from genlab.sweeps.summary import SEED_KEY, group_by_setting, mean_std, swept_keys


def plot_all(records: list[RunRecord], out_dir: Path) -> list[Path]:
    keys = swept_keys(records)
    # a key some runs lack (comparing different sweeps) is not a parameter to plot against
    axes = [k for k in keys if k != SEED_KEY and all(k in r.params for r in records)]
    paths = [plot_objective_vs(records, key, keys, out_dir) for key in axes]
    curves = plot_learning_curves(records, keys, out_dir)
    return [p for p in [*paths, curves] if p is not None]


def plot_objective_vs(records: list[RunRecord], key: str, keys: list[str],
                      out_dir: Path) -> Path | None:
    """One line per setting of the other swept keys; x = the key's values."""
    objective = next((r.optimized_metric for r in records if r.optimized_metric), None)
    if objective is None:
        return None
    plt = _pyplot()
    settings = [k for k in keys if k != SEED_KEY]
    at = settings.index(key)
    series: dict[tuple, list[tuple[str, float, float]]] = {}
    for setting, values in group_by_setting(records, keys).items():
        rest = setting[:at] + setting[at + 1:]
        series.setdefault(rest, []).append((setting[at], *mean_std(values)))
    numeric = all(_is_number(x) for points in series.values() for x, _, _ in points)
    scatter = all(len(points) == 1 for points in series.values())  # e.g. an Optuna search
    if scatter:
        series = {(): [p for points in series.values() for p in points]}
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for rest, points in series.items():
        points.sort(key=lambda p: float(p[0]) if numeric else str(p[0]))
        xs = [float(p[0]) if numeric else str(p[0]) for p in points]
        others = [] if scatter else settings[:at] + settings[at + 1:]
        label = ", ".join(f"{k}={v}" for k, v in zip(others, rest, strict=True)) or None
        ax.errorbar(xs, [p[1] for p in points], yerr=[p[2] for p in points], marker="o",
                    capsize=3, label=label, linestyle="none" if scatter else "-")
    if numeric and _spans_octaves(series):
        xs = [float(x) for points in series.values() for x, _, _ in points]
        if all(x.is_integer() for x in xs):  # latent sizes, widths: 2, 4, 8, ... as numbers
            from matplotlib.ticker import ScalarFormatter

            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(ScalarFormatter())
        else:  # learning rates and friends
            from matplotlib.ticker import NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(key)
    ax.set_ylabel(objective if scatter else f"{objective} (mean ± std over seeds)")
    if len(series) > 1:  # beside the axes: many series must not squeeze the plot
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    return _save(fig, out_dir / f"objective_vs_{key.replace('/', '_')}.png")


def plot_learning_curves(records: list[RunRecord], keys: list[str], out_dir: Path) -> Path | None:
    objective = next((r.optimized_metric for r in records if r.optimized_metric), None)
    curves = [(r, _curve(r.run_dir / run_dir.CSV_METRICS, objective)) for r in records]
    curves = [(r, c) for r, c in curves if c]
    if objective is None or not curves:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    settings = [k for k in keys if k != SEED_KEY]
    colors: dict[str, int] = {}  # one colour per setting; its seeds share it
    for r, (steps, values) in curves:
        label = " ".join(f"{k}={r.params.get(k)}" for k in settings) or r.job
        first = label not in colors
        colors.setdefault(label, len(colors))
        ax.plot(steps, values, color=f"C{colors[label] % 10}", alpha=0.8, linewidth=1,
                label=label if first else None)
    ax.set_xlabel("step")
    ax.set_ylabel(objective)
    if len(colors) <= 20:  # beside the axes, not over them
        ax.legend(fontsize="x-small", ncol=2 if len(colors) > 10 else 1, loc="upper left",
                  bbox_to_anchor=(1.02, 1), borderaxespad=0)
    return _save(fig, out_dir / "learning_curves.png")


def _curve(path: Path, metric: str | None) -> tuple[list[float], list[float]] | None:
    if metric is None or not path.is_file():
        return None
    with path.open(newline="") as f:
        rows = [row for row in csv.DictReader(f) if row.get(metric)]
    if not rows:
        return None
    return [float(row["step"]) for row in rows], [float(row[metric]) for row in rows]


def _is_number(value: object) -> bool:
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def _spans_octaves(series: dict) -> bool:
    xs = [float(x) for points in series.values() for x, _, _ in points]
    return min(xs) > 0 and max(xs) / min(xs) >= 8


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=100, bbox_inches="tight")
    _pyplot().close(fig)
    return path
