"""W&B metric definitions: a run's summary keeps each metric's best value, not its last,
and every metric is plotted against Lightning's `trainer/global_step` (one step axis).

Directions follow the metric names of DESIGN.md; the run's `optimized_metric` gets its
`optimized_mode`. In W&B the summary then reads e.g. `val/elbo.max`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STEP = "trainer/global_step"
# name or glob (`*` at the end) → summary kept: max | min
BEST = {
    "val/elbo": "max", "test/elbo": "max", "test/nll_iwae": "min",
    "val/fid*": "min", "val/kid*": "min", "val/is*": "max",
    "val/precision*": "max", "val/recall*": "max", "val/class_acc": "max",
    "val/modes": "max", "val/hq_ratio": "max", "val/reverse_kl": "min",
}


def best_summaries(optimized_metric: str | None, optimized_mode: str | None) -> dict[str, str]:
    goals = dict(BEST)
    if optimized_metric and optimized_mode in ("min", "max"):
        goals[optimized_metric] = optimized_mode
    return goals


def define_wandb_metrics(loggers: list, cfg: Mapping[str, Any]) -> None:
    """Define the step axis and best-value summaries on each W&B run among `loggers`."""
    from lightning.pytorch.loggers import WandbLogger

    goals = best_summaries(cfg.get("optimized_metric"), cfg.get("optimized_mode"))
    for logger in loggers:
        if not isinstance(logger, WandbLogger):
            continue
        run = logger.experiment
        run.define_metric(STEP)
        for name, summary in goals.items():
            run.define_metric(name, step_metric=STEP, summary=summary)
