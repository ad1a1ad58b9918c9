"""Trackers of a run: the configured loggers plus a CSV log that is always written, the
resolved config logged to all of them with flat, typed keys (`model.latent_dim`), and W&B's
metric definitions: a run's summary keeps each metric's best value, not its last (the
direction declared once, in genlab/config/choices.py), and every metric is plotted against
Lightning's `trainer/global_step` (one step axis). In W&B the summary reads `val/elbo.max`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from genlab import run_dir
from genlab.config.choices import METRIC_DIRECTION
from genlab.runtime.history import ResumePoint, RunCSVLogger


@contextlib.contextmanager
def tracked(plain_cfg: Mapping[str, Any], output_dir: Path,
            resume_at: ResumePoint | None = None) -> Iterator[list]:
    """The run's loggers, with the config logged and W&B's metrics defined; on exit each
    tracker's run is finished, marked failed when the block raised. Rank 0 pins the W&B
    logger to this run directory's W&B run (continued after a requeue or resume); the CSV
    and TensorBoard logs continue from `resume_at` (runtime/history.py). A run stopped by a
    signal finishes with its exit code (130, 143): W&B shows it failed, not finished."""
    from omegaconf import OmegaConf

    from genlab.runtime.ranks import is_rank_zero
    from genlab.runtime.resume import wandb_run_continued

    logger_cfg = OmegaConf.create(plain_cfg.get("logger") or {})  # secrets redacted
    if is_rank_zero():
        logger_cfg = wandb_run_continued(logger_cfg, output_dir)
    loggers = build_loggers(logger_cfg, str(output_dir), resume_at)
    try:
        log_config(loggers, plain_cfg)
        define_wandb_metrics(loggers, plain_cfg)  # best-value summaries, one step axis
        yield loggers
    except BaseException as err:
        # a signal's stop: 128 + its number (130, 143); any other failure: 1
        signum = getattr(err, "signum", 2 if isinstance(err, KeyboardInterrupt) else None)
        finish_loggers(loggers, exit_code=128 + signum if signum else 1)
        raise
    finish_loggers(loggers)


def flatten(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'model': {'latent_dim': 2}} → {'model.latent_dim': 2}; lists become strings only
    when they hold mappings (W&B filters scalars and lists of scalars)."""
    flat: dict[str, Any] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list | tuple) and any(isinstance(v, Mapping) for v in value):
            flat[name] = str(value)
        else:
            flat[name] = value
    return flat


def build_loggers(logger_cfg: Mapping[str, Any] | None, output_dir: str,
                  resume_at: ResumePoint | None = None) -> list:
    """Instantiate each configured logger and add a CSV log if none is configured.

    The CSV log and TensorBoard continue a resumed run's history: rows and events logged
    after `resume_at` (by a run killed mid-epoch) are replaced, those before it kept.
    Trackers other than the CSV log are guarded: an online W&B logger that cannot reach its
    server falls back to offline, and a tracker that fails later is switched off with a
    warning instead of ending the run. The CSV log is never guarded: it is the record."""
    from hydra.utils import instantiate
    from lightning.pytorch.loggers import CSVLogger

    loggers = []
    for cfg in (logger_cfg or {}).values():
        if not (cfg and "_target_" in cfg):
            continue
        cfg, target = dict(cfg), str(cfg["_target_"])
        if target.endswith("WandbLogger"):
            cfg = wandb_mode(cfg)
        elif target in CSV_TARGETS:  # run dirs from before RunCSVLogger name Lightning's
            cfg = {**cfg, "_target_": CSV_TARGETS[0]}
        elif target.endswith("TensorBoardLogger") and resume_at is not None:
            # SummaryWriter's purge_step: TensorBoard hides the earlier files' events at
            # steps ≥ purge_step, so a resumed run's re-logged steps are not shown twice
            cfg = {**cfg, "purge_step": resume_at.step}
        logger = instantiate(cfg)
        if isinstance(logger, RunCSVLogger):
            logger.resume_at = resume_at  # a plain object: not through instantiate
        # WandbLogger's private init kwargs (checked on Lightning 2.6.6; getattr: a later
        # version without it only brings the message back, which tests/test_cli.py's
        # noise check then fails on)
        init = getattr(logger, "_wandb_init", None)
        if isinstance(init, dict) and init.get("anonymous") is None:
            # Lightning always passes anonymous=None to wandb.init, which W&B answers with
            # "The anonymous setting has no effect"; give W&B only settings it supports
            init.pop("anonymous", None)
        loggers.append(logger if isinstance(logger, CSVLogger) else guard(logger))
    if not any(isinstance(lg, CSVLogger) for lg in loggers):
        loggers.append(RunCSVLogger(save_dir=output_dir, name=run_dir.CSV_DIR, version="",
                                    resume_at=resume_at))
    return loggers


CSV_TARGETS = ("genlab.runtime.history.RunCSVLogger", "lightning.pytorch.loggers.CSVLogger")


WANDB_PROBE_TIMEOUT_S = 5.0


def wandb_mode(cfg: dict[str, Any]) -> dict[str, Any]:
    """The W&B logger config adjusted to the environment.

    WANDB_MODE=disabled wins (Lightning's offline=True would overwrite it with "dryrun");
    an online logger whose server cannot be reached within WANDB_PROBE_TIMEOUT_S goes
    offline (wandb.init itself would wait up to 90 s, then fail)."""
    import os
    import socket
    import warnings
    from urllib.parse import urlparse

    mode = os.environ.get("WANDB_MODE")
    if mode == "disabled":
        return {**cfg, "offline": False}
    if cfg.get("offline") or mode in ("offline", "dryrun"):
        return cfg
    url = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=WANDB_PROBE_TIMEOUT_S).close()
        return cfg
    except OSError as err:
        warnings.warn(f"W&B server {url.hostname}:{port} is unreachable ({err}); logging "
                      "offline instead. Upload later with `wandb sync`.", stacklevel=2)
        return {**cfg, "offline": True}


def guard(logger: Any) -> Any:
    """Make a tracker's failures warnings: after its first error it logs nothing more."""
    import functools
    import warnings

    def guarded(method: Any) -> Any:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            if getattr(logger, "_genlab_disabled", False):
                return None
            try:
                return method(*args, **kwargs)
            except Exception as err:
                logger._genlab_disabled = True
                warnings.warn(f"{type(logger).__name__} failed ({err!s:.200}) and is switched "
                              "off for the rest of the run; the CSV log goes on.", stacklevel=2)
                return None

        return call

    for name in ("log_metrics", "log_hyperparams", "log_graph", "save", "finalize",
                 "after_save_checkpoint", "log_image"):
        if hasattr(logger, name):
            setattr(logger, name, guarded(getattr(logger, name)))
    return logger


def log_config(loggers: list, plain_cfg: Mapping[str, Any]) -> None:
    flat = flatten(plain_cfg)
    for logger in loggers:
        logger.log_hyperparams(flat)


def finish_loggers(loggers: list, exit_code: int = 0) -> None:
    """Close the W&B run (Lightning leaves it open), marking it failed after an error
    (`exit_code` ≠ 0), so the next run in the same process starts a new one."""
    from lightning.pytorch.loggers import WandbLogger

    used = False
    for logger in loggers:
        if isinstance(logger, WandbLogger) and logger._experiment is not None:
            logger.experiment.finish(exit_code=exit_code)
            used = True
    if used:  # wandb caches its settings per process: the next run (a sweep job) starts clean
        import wandb

        wandb.teardown()

STEP = "trainer/global_step"
# the stages whose summary keeps the best value; the rest: validation only
SUMMARY_STAGES = {"elbo": ("val", "test"), "nll_iwae": ("test",)}
# glob (`*` at the end: `val/fid*` covers val/fid_classifier) → summary kept: max | min
BEST = {f"{stage}/{name}*": mode for name, mode in METRIC_DIRECTION.items()
        for stage in SUMMARY_STAGES.get(name, ("val",))}


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


def summarize_record(loggers: list, record: Mapping[str, Any],
                     val_history: Mapping[int, Mapping[str, float]]) -> None:
    """Each W&B run's summary, set from the run's record at its end: the epochs (0-based)
    `best/epoch`, `test/epoch`, `last/epoch`, and for every val/test metric with a
    direction (config/choices.py METRIC_DIRECTION) its best value, `{"max": v}` or
    `{"min": v}`, over the whole history (resumes included). Set explicitly because W&B's
    glob summaries (`define_metric("val/fid*")`) were applied to some names and not others
    (val/is_classifier stayed a last value)."""
    from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

    summary: dict[str, Any] = {
        f"{group}/epoch": record[group]["epoch"] for group in ("best", "test", "last")
        if isinstance(record.get(group), Mapping) and record[group].get("epoch") is not None}
    series: dict[str, list[float]] = {}
    for values in val_history.values():
        for name, value in values.items():
            series.setdefault(name, []).append(value)
    for name, value in ((record.get("test") or {}).get("values") or {}).items():
        series.setdefault(name, []).append(value)
    for name, values in series.items():
        if (goal := direction(name)) is not None:
            summary[name] = {goal: (max if goal == "max" else min)(values)}
    import warnings

    for logger in loggers:
        if getattr(logger, "_genlab_disabled", False):
            continue
        try:
            if isinstance(logger, WandbLogger):
                logger.experiment.summary.update(summary)
            elif isinstance(logger, TensorBoardLogger):
                tensorboard_hparams(logger, record.get("metrics") or {})
        except Exception as err:  # a tracker must not fail a finished run
            warnings.warn(f"{type(logger).__name__} could not take the final record "
                          f"({err!s:.200}); metrics.json and the CSV log have it.",
                          stacklevel=2)


def tensorboard_hparams(logger: Any, metrics: Mapping[str, float]) -> None:
    """TensorBoard's HPARAMS data for this run: the flat config it was given at the start
    (`logger.hparams`) against the final record's metrics, written as `record/<name>`
    scalars (the best epoch's validation values and the test values: HPARAMS shows a
    metric's latest value, which for `val/*` would be the last epoch's). Lightning writes
    hparams data only together with metrics, and the run has none at the start."""
    params = {k: v if isinstance(v, int | float | str | bool) else str(v)
              for k, v in (logger.hparams or {}).items()}
    final = {f"record/{k}": float(v) for k, v in metrics.items()}
    if not final:
        return
    # run_name=".": the hparams go into this run's own directory (add_hparams would
    # otherwise make a sub-run named by the time)
    logger.experiment.add_hparams(params, final, run_name=".")
    logger.experiment.flush()


def direction(name: str) -> str | None:
    """"val/fid_classifier" → "min": the direction of the metric family it belongs to."""
    base = name.split("/", 1)[-1]
    hits = [k for k in METRIC_DIRECTION if base == k or base.startswith(f"{k}_")]
    return METRIC_DIRECTION[max(hits, key=len)] if hits else None
