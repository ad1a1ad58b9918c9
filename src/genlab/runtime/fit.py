"""Fit, then test with the best checkpoint; report the run's final record on the console and
in the run directory's metrics.json.

The record is one record, never a mix of epochs (epochs are 0-based everywhere: the CSV's
`epoch` column, checkpoint and image file names, W&B, this record):

    best    the epoch whose checkpoint was selected on the monitored metric: its number,
            its checkpoint and *all* of that epoch's validation values
    test    the test values of the checkpoint that was tested (the best one when there is
            one) and the epoch it is from
    last    the final epoch's validation values and the last logged training values
    metrics flat: best.val + test (what sweeps and genlab-compare read)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genlab import run_dir
from genlab.console import record_table


def fit_and_test(trainer: Any, model: Any, datamodule: Any, *, fit: bool, test: bool,
                 ckpt_path: str | None, optimized_metric: str | None,
                 output_dir: Path) -> dict[str, float]:
    """Fit (from `ckpt_path` when given), then test with the best checkpoint → the flat
    metrics of the run's record (best epoch's validation values + test values)."""
    train: dict[str, float] = {}
    if fit:
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        train = {k: v for k, v in _floats(trainer.callback_metrics).items()
                 if k.startswith("train/")}
    ckpt_cb = trainer.checkpoint_callback
    best = (ckpt_cb.best_model_path if ckpt_cb else "") if fit else ""
    tested = best or (ckpt_path if not fit else None)
    test_values: dict[str, float] = {}
    if test:
        # verbose=False: the record table below shows the test values, once
        trainer.test(model, datamodule=datamodule, ckpt_path=tested or None, weights_only=True,
                     verbose=False)
        test_values = {k: v for k, v in _floats(trainer.callback_metrics).items()
                       if k.startswith("test/")}
    record: dict[str, Any] = {}
    if trainer.is_global_zero:
        from genlab.callbacks.history import epoch_values
        from genlab.runtime.trackers import summarize_record

        record = final_record(trainer, best, tested, train, test_values, output_dir)
        report(record, output_dir)
        summarize_record(trainer.loggers, record, epoch_values(trainer))
    _end_process_group()
    if not trainer.is_global_zero:  # the other ranks hold the same synced values
        return {**_floats(trainer.callback_metrics)}
    return record["metrics"]


def final_record(trainer: Any, best: str, tested: str | None, train: dict[str, float],
                 test_values: dict[str, float], output_dir: Path) -> dict[str, Any]:
    """The run's final record (see the module docstring), from the run's history."""
    from genlab.callbacks.history import epoch_values

    val = epoch_values(trainer)
    last_epoch = max(val, default=None)
    best_epoch = checkpoint_epoch(best) if best else None
    record: dict[str, Any] = {"output_dir": str(output_dir), "best_checkpoint": best}
    judge = next((cb.judge_identity() for cb in trainer.callbacks
                  if callable(getattr(cb, "judge_identity", None))), None)
    if judge:  # the feature network behind the *_classifier / *_inception numbers
        record["judge"] = judge
    if best_epoch is not None:
        monitor = getattr(trainer.checkpoint_callback, "monitor", None)
        record["best"] = {"epoch": best_epoch, "checkpoint": best, "monitor": monitor,
                          "val": val.get(best_epoch, {})}
    if last_epoch is not None or train:
        record["last"] = {"epoch": last_epoch, "val": val.get(last_epoch, {}), "train": train}
    if test_values:
        from_epoch = best_epoch if best else (checkpoint_epoch(tested) if tested else
                                              last_epoch)
        record["test"] = {"checkpoint": tested or "the weights at the end of fit",
                          "epoch": from_epoch, "values": test_values}
    selected = record.get("best", record.get("last", {})).get("val", {})
    record["metrics"] = {**selected, **test_values}
    return record


def checkpoint_epoch(path: str) -> int | None:
    """The (0-based) epoch a checkpoint was written in; memory-mapped, so the weights are
    not read."""
    import torch

    try:
        return int(torch.load(path, map_location="cpu", weights_only=True, mmap=True)["epoch"])
    except Exception:  # noqa: BLE001 — a foreign file: the record just lacks the epoch
        return None


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


def report(record: dict[str, Any], output_dir: Path) -> None:
    from rich.console import Console

    Console().print(record_table(record))
    run_dir.write_json(output_dir / run_dir.METRICS, record)
