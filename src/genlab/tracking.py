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
    """Instantiate each configured logger and add a CSVLogger if none is configured.

    Trackers other than the CSV log are guarded: an online W&B logger that cannot reach its
    server falls back to offline, and a tracker that fails later is switched off with a
    warning instead of ending the run. The CSV log is never guarded: it is the record."""
    from hydra.utils import instantiate
    from lightning.pytorch.loggers import CSVLogger

    loggers = []
    for cfg in (logger_cfg or {}).values():
        if not (cfg and "_target_" in cfg):
            continue
        if str(cfg["_target_"]).endswith("WandbLogger"):
            cfg = wandb_mode(dict(cfg))
        logger = instantiate(cfg)
        init = getattr(logger, "_wandb_init", None)
        if isinstance(init, dict) and init.get("anonymous") is None:
            # Lightning always passes anonymous=None to wandb.init, which W&B answers with
            # "The anonymous setting has no effect"; give W&B only settings it supports
            init.pop("anonymous", None)
        loggers.append(logger if isinstance(logger, CSVLogger) else guard(logger))
    if not any(isinstance(lg, CSVLogger) for lg in loggers):
        loggers.append(CSVLogger(save_dir=output_dir, name="csv", version=""))
    return loggers


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


def finish_loggers(loggers: list, failed: bool = False) -> None:
    """Close the W&B run (Lightning leaves it open), marking it failed after an error, so
    the next run in the same process starts a new one."""
    from lightning.pytorch.loggers import WandbLogger

    used = False
    for logger in loggers:
        if isinstance(logger, WandbLogger) and logger._experiment is not None:
            logger.experiment.finish(exit_code=1 if failed else 0)
            used = True
    if used:  # wandb caches its settings per process: the next run (a sweep job) starts clean
        import wandb

        wandb.teardown()
