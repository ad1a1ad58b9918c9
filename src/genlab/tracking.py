"""Loggers for a run: the configured trackers plus a CSV log that is always written, and
the resolved config logged to all of them with flat, typed keys (`model.latent_dim`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


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


def build_loggers(logger_cfg: Mapping[str, Any] | None, output_dir: str) -> list:
    """Instantiate each configured logger and add a CSVLogger if none is configured."""
    from hydra.utils import instantiate
    from lightning.pytorch.loggers import CSVLogger

    loggers = [instantiate(c) for c in (logger_cfg or {}).values() if c and "_target_" in c]
    if not any(isinstance(lg, CSVLogger) for lg in loggers):
        loggers.append(CSVLogger(save_dir=output_dir, name="csv", version=""))
    return loggers


def log_config(loggers: list, plain_cfg: Mapping[str, Any]) -> None:
    flat = flatten(plain_cfg)
    for logger in loggers:
        logger.log_hyperparams(flat)


def finish_loggers(loggers: list, failed: bool = False) -> None:
    """Close the W&B run (Lightning leaves it open), marking it failed after an error, so
    the next run in the same process starts a new one."""
    from lightning.pytorch.loggers import WandbLogger

    for logger in loggers:
        if isinstance(logger, WandbLogger) and logger._experiment is not None:
            logger.experiment.finish(exit_code=1 if failed else 0)
