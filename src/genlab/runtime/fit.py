"""Fit, then test with the best checkpoint; report the final metrics on the console and in
the run directory's metrics.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genlab import run_dir
from genlab.console import metrics_table


def fit_and_test(trainer: Any, model: Any, datamodule: Any, *, fit: bool, test: bool,
                 ckpt_path: str | None, optimized_metric: str | None,
                 output_dir: Path) -> dict[str, float]:
    """Fit (from `ckpt_path` when given), then test with the best checkpoint → metrics."""
    metrics: dict[str, float] = {}
    if fit:
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        metrics.update(_floats(trainer.callback_metrics))
    ckpt_cb = trainer.checkpoint_callback
    best = ckpt_cb.best_model_path if ckpt_cb else ""
    if fit and best and optimized_metric and ckpt_cb.monitor == optimized_metric:
        metrics[optimized_metric] = float(ckpt_cb.best_model_score)
    if test:
        ckpt = best or (ckpt_path if not fit else None)
        trainer.test(model, datamodule=datamodule, ckpt_path=ckpt or None, weights_only=True)
        metrics.update(_floats(trainer.callback_metrics))
    if trainer.is_global_zero:
        report(metrics, output_dir, best)
    _end_process_group()
    return metrics


def _end_process_group() -> None:
    """Every rank waits for the others, then leaves the process group. Lightning leaves it
    open; a gloo rank that exits with it open can abort in teardown ("terminate called
    without an active exception", seen on the requeued rank of a 2-node job, whose job
    then ends FAILED although the run finished)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _floats(values: dict) -> dict[str, float]:
    return {k: float(v) for k, v in values.items()}


def report(metrics: dict[str, float], output_dir: Path, best_ckpt: str) -> None:
    from rich.console import Console

    Console().print(metrics_table(metrics))
    run_dir.write_json(output_dir / run_dir.METRICS, {
        "metrics": metrics, "best_checkpoint": best_ckpt, "output_dir": str(output_dir)})
