"""The sweep summary: `summary.csv` and `summary.md` (one row per job) and the plots, from
run directories alone (no W&B server)."""

from __future__ import annotations

import csv
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from genlab.sweeps.records import RunRecord

SEED_KEY = "seed"


def swept_keys(records: list[RunRecord]) -> list[str]:
    """Config keys whose value differs between the runs (from their resolved configs: a
    baseline run shows its default `model.latent_dim=16`, not nothing), the keys given on
    the command lines first, then in config order. A mistyped key that composed into no run
    config is no column."""
    given = [k.lstrip("+") for r in records for o in r.overrides if "=" in o
             for k in [o.split("=", 1)[0]]]
    keys: dict[str, None] = dict.fromkeys(k for k in given if any(k in r.params for r in records))
    for r in records:
        keys.update(dict.fromkeys(r.params))
    return [k for k in keys if len({r.params.get(k) for r in records}) > 1]


def metric_names(records: list[RunRecord]) -> list[str]:
    """The optimised metric first, then val/, test/, train/ and the rest, each sorted."""
    names = {m for r in records for m in r.metrics}
    optimized = {r.optimized_metric for r in records if r.optimized_metric}
    order = {"val": 1, "test": 2, "train": 3}
    return sorted(names, key=lambda m: (m not in optimized, order.get(m.split("/")[0], 4), m))


def group_by_setting(records: list[RunRecord], keys: list[str],
                     metric: str | None = None) -> dict[tuple, list[float]]:
    """Values of `metric` (default: the objective) in completed runs, grouped by the swept
    keys other than the seed."""
    settings = [k for k in keys if k != SEED_KEY]
    groups: dict[tuple, list[float]] = defaultdict(list)
    for r in records:
        setting = tuple(r.params.get(k) for k in settings)
        groups.setdefault(setting, [])
        value = r.metrics.get(metric) if metric else r.objective
        if r.status == "completed" and value is not None:
            groups[setting].append(value)
    return dict(groups)


def mean_std(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def write_csv(records: list[RunRecord], path: Path) -> None:
    keys, metrics = swept_keys(records), metric_names(records)
    header = ["job", "overrides", *keys, "status", "optimized_metric", "objective", *metrics,
              "run_dir", "wandb_run_id", "reason", "log"]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for r in records:
            writer.writerow([
                r.job, " ".join(r.overrides), *(r.params.get(k, "") for k in keys), r.status,
                r.optimized_metric or "", _num(r.objective),
                *(_num(r.metrics.get(m)) for m in metrics), r.run_dir, r.wandb_id or "",
                r.reason, r.log if r.status != "completed" else ""])


def markdown(records: list[RunRecord], plots: list[Path]) -> str:
    keys, metrics = swept_keys(records), metric_names(records)
    common = [o for o in (records[0].overrides if records else [])
              if all(o in r.overrides for r in records) and o.split("=", 1)[0] not in keys]
    done = sum(r.status == "completed" for r in records)
    lines = [f"# Sweep summary: {done} of {len(records)} runs completed", ""]
    if common:
        lines += [f"Common overrides: `{' '.join(common)}`", ""]
    lines += _aggregate_table(records)
    header = ["job", *keys, "status", *metrics, "W&B run", "run dir / failure"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in records:
        where = f"`{r.run_dir}`" if r.status == "completed" else f"{r.reason} — log `{r.log}`"
        cells = [r.job, *(r.params.get(k, "") for k in keys), r.status,
                 *(_num(r.metrics.get(m), 4) for m in metrics), r.wandb_id or "", where]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    lines += ["", *(f"![{p.stem}]({p.name})" for p in plots)]
    return "\n".join(lines) + "\n"


@dataclass
class Aggregate:
    """mean ± std over seeds, one row per setting of the other swept keys: `heads` name the
    setting's columns (["setting"] for a seed-only sweep, its one row "all runs"), each row
    is (setting values, completed runs, [(mean, std) per metric]), std NaN for one run."""

    heads: list[str]
    metrics: list[str]
    rows: list[tuple[tuple, int, list[tuple[float, float]]]]


def aggregate(records: list[RunRecord]) -> Aggregate | None:
    """The objective and the test metrics, averaged over seeds per setting of the other
    swept keys; None when no setting was repeated (e.g. an Optuna search)."""
    keys = swept_keys(records)
    settings = [k for k in keys if k != SEED_KEY]
    objective = next((r.optimized_metric for r in records if r.optimized_metric), None)
    if not objective:
        return None
    metrics = [objective, *(m for m in metric_names(records)
                            if m.startswith("test/") and m != objective)]
    columns = {m: group_by_setting(records, keys, m) for m in metrics}
    if all(len(values) <= 1 for values in columns[objective].values()):
        return None
    rows = []
    for setting, values in columns[objective].items():
        stats = [mean_std(columns[m].get(setting, [])) for m in metrics]
        stats = [(mean, std if len(columns[m].get(setting, [])) > 1 else math.nan)
                 for m, (mean, std) in zip(metrics, stats, strict=True)]
        rows.append((setting or ("all runs",), len(values), stats))
    return Aggregate(settings or ["setting"], metrics, rows)


def _aggregate_table(records: list[RunRecord]) -> list[str]:
    """The markdown of `aggregate`: "mean ± std" cells, one run's value alone."""
    agg = aggregate(records)
    if agg is None:
        return []
    lines = [f"Mean ± std over {SEED_KEY}s (completed runs):", "",
             f"| {' | '.join(agg.heads)} | runs | {' | '.join(agg.metrics)} |",
             "|" + "---|" * (len(agg.heads) + 1 + len(agg.metrics))]
    for names, n, stats in agg.rows:
        cells = [_mean_std(mean, std) for mean, std in stats]
        lines.append(f"| {' | '.join(map(str, names))} | {n} | {' | '.join(cells)} |")
    return [*lines, ""]


def _mean_std(mean: float, std: float) -> str:
    """"mean ± std" over two or more runs; one run is its value (no "± 0"); none: empty."""
    if math.isnan(mean):
        return ""
    return f"{mean:.4g}" if math.isnan(std) else f"{mean:.4g} ± {std:.2g}"


def _num(value: float | None, digits: int | None = None) -> str:
    if value is None:
        return ""
    return f"{value:.{digits}g}" if digits else repr(float(value))
