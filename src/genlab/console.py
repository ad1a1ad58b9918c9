"""Terminal output with rich: the config tree, the final metrics table, one-paragraph
errors. Imports no torch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree


def config_tree(cfg: Mapping[str, Any], order: tuple[str, ...] = ()) -> Tree:
    """A rich Tree of a plain config dict, top-level groups in `order` first."""
    tree = Tree("config", guide_style="dim")
    keys = [k for k in order if k in cfg] + [k for k in cfg if k not in order]
    for key in keys:
        _add(tree, str(key), cfg[key])
    return tree


def _add(parent: Tree, key: str, value: Any) -> None:
    if isinstance(value, Mapping):
        branch = parent.add(f"[bold]{key}[/]")
        for k, v in value.items():
            _add(branch, str(k), v)
    else:
        parent.add(f"{key}: [cyan]{value!r}[/]")


def metrics_table(metrics: Mapping[str, float], title: str = "final metrics") -> Table:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name in sorted(metrics):
        table.add_row(name, f"{metrics[name]:.4f}")
    return table


def record_table(record: Mapping[str, Any]) -> Table:
    """A run's final record as one table: a row per metric name, a column per group — the
    best epoch's validation values, the last epoch's, and the test of the tested checkpoint
    (epochs 0-based), so no value is shown apart from the epoch it belongs to."""
    columns = []
    if "best" in record:
        b = record["best"]
        # optimized_metric=null keeps the last checkpoint: nothing was "best" about it
        columns.append((f"val, best epoch {b['epoch']}\n({b['monitor']})" if b.get("monitor")
                        else f"val, epoch {b['epoch']}\n(kept: no optimized_metric)", b["val"]))
    last = record.get("last") or {}
    if last.get("val") and last.get("epoch") != (record.get("best") or {}).get("epoch"):
        columns.append((f"val, last epoch {last['epoch']}", last["val"]))
    if "test" in record:
        t = record["test"]
        where = f"epoch {t['epoch']}" if t.get("epoch") is not None else "final weights"
        columns.append((f"test ({where})", t["values"]))
    names = sorted({k.split("/", 1)[-1] for _, values in columns for k in values})
    table = Table(title="final record")
    table.add_column("metric")
    for title, _ in columns:
        table.add_column(title, justify="right")
    for name in names:
        cells = []
        for _, values in columns:
            hit = [v for k, v in values.items() if k.split("/", 1)[-1] == name]
            cells.append(f"{hit[0]:.4f}" if hit else "")
        table.add_row(name, *cells)
    return table


def print_error(message: str) -> None:
    # escaped: a library's message may hold brackets ("[.../pair.cc:545]") rich would parse
    Console(stderr=True, highlight=False).print(f"[bold red]error:[/] {escape(message)}",
                                                soft_wrap=True)


def print_note(message: str) -> None:
    """One line of genlab's own news at the start of a run (what kind of start it is)."""
    Console(highlight=False).print(f"[bold]genlab:[/] {escape(message)}", soft_wrap=True)
