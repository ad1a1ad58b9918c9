"""genlab-train: compose the config, check it, build everything from `_target_`, fit,
test with the best checkpoint, return `optimized_metric`.

Importing this module imports neither torch nor Lightning: the config is validated first,
so a typo is reported in well under a second.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf, open_dict

from genlab.checkpoint_loading import load_checkpoint
from genlab.config import config_dir
from genlab.console import config_tree, metrics_table
from genlab.entry import command_main, reported_errors
from genlab.errors import ConfigError, GenlabError
from genlab.paths import ensure_writable
from genlab.redaction import redact
from genlab.resume import last_checkpoint, resume_checkpoint, wandb_run_continued
from genlab.schema import validate

CONFIG_ORDER = ("data", "model", "trainer", "logger", "callbacks", "paths")


def is_rank_zero() -> bool:
    return all(os.environ.get(v, "0") == "0" for v in ("RANK", "LOCAL_RANK", "SLURM_PROCID"))


def instantiate(cfg: Any, **kwargs: Any) -> Any:
    """hydra.utils.instantiate that lets genlab's own errors through unwrapped, and reports
    a library's refusal of a config value (Lightning's MisconfigurationException, an
    unexpected keyword) as a ConfigError naming the key."""
    from hydra.errors import InstantiationException

    try:
        return hydra.utils.instantiate(cfg, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        while cause is not None and not isinstance(cause, GenlabError):
            cause = cause.__cause__
        if cause is not None:
            raise cause from None
        refused = _refused_value(err)
        if refused is not None:
            raise refused from err
        raise


def _refused_value(err: Exception) -> ConfigError | None:
    """The ConfigError for an InstantiationException whose cause is a library rejecting a
    value or a key, else None."""
    import re

    from genlab.errors import RefusedConfigError

    cause = err.__cause__
    key = (re.search(r"full_key: (\S+)", str(err)) or [None, "config"])[1]
    message = str(cause).strip().splitlines()[0] if cause is not None else ""
    show = "The command's `--cfg job` prints the composed config."
    if type(cause).__name__ == "MisconfigurationException":
        return RefusedConfigError(key, f"Lightning refused it: {message}", show)
    unexpected = re.search(r"unexpected keyword argument '(\w+)'", message)
    if isinstance(cause, TypeError) and unexpected:
        target = message.split("(")[0].strip().removesuffix(".__init__")
        return RefusedConfigError(f"{key}.{unexpected.group(1)}",
                                  f"{target} has no parameter `{unexpected.group(1)}`", show)
    return None


def resolved(cfg: DictConfig) -> dict:
    """The config as plain data with every interpolation resolved, or a ConfigError."""
    from omegaconf.errors import OmegaConfBaseException

    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "config"
        raise ConfigError(key, "an interpolation", "a value that resolves",
                          str(err).splitlines()[0]) from None


def run(cfg: DictConfig) -> float | None:
    """Train and test one run; return the value of `cfg.optimized_metric`."""
    plain = resolved(cfg)
    validate(plain)
    plain = redact(plain)  # what is printed, saved and logged from here on
    output_dir = Path(cfg.paths.output_dir)
    if is_rank_zero():
        from rich.console import Console

        ensure_writable(output_dir, "paths.output_dir")
        ensure_writable(cfg.paths.cache_dir, "paths.cache_dir")
        Console().print(config_tree(plain, CONFIG_ORDER))
        OmegaConf.save(OmegaConf.create(plain), output_dir / "config_resolved.yaml")

    import lightning as L

    from genlab.cuda_probe import drop_nvml_check_without_nvml
    from genlab.tracking import build_loggers, finish_loggers, log_config
    from genlab.wandb_metrics import define_wandb_metrics

    drop_nvml_check_without_nvml()  # set by `import lightning`; costly in each step without NVML
    if "SLURM_JOB_ID" not in os.environ:
        # outside any allocation Lightning's "prepend srun" hint (srun on PATH, a login node
        # or a workstation with SLURM) is wrong for genlab: jobs go through
        # hydra/launcher=slurm or slurm/train.sbatch, which use srun. Inside a job it stays.
        import warnings

        warnings.filterwarnings("ignore", message="The `srun` command is available")
    quiet_foreign_noise()
    logger_cfg = OmegaConf.create(plain.get("logger") or {})  # secrets redacted
    if is_rank_zero():  # the W&B run of this run dir, continued after a requeue or resume
        logger_cfg = wandb_run_continued(logger_cfg, output_dir)
    loggers = build_loggers(logger_cfg, str(output_dir))
    callbacks: list = []
    # the trackers' runs start here, before anything that can fail, so that a run (a sweep
    # trial) failing while its data, model or trainer are built is in W&B, marked failed
    try:
        log_config(loggers, plain)
        define_wandb_metrics(loggers, plain)  # best-value summaries, one step axis
        if cfg.get("seed") is not None:
            L.seed_everything(cfg.seed, workers=True, verbose=False)
        datamodule = instantiate(cfg.data)
        model = instantiate(
            cfg.model, data_shape=list(datamodule.shape), num_classes=datamodule.num_classes,
            _recursive_=False, _convert_="all",
        )
        callbacks = build_callbacks(cfg)
        trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
        with open_dict(cfg):  # resume=auto: the newest checkpoint in the run dir
            cfg.ckpt_path = resume_checkpoint(cfg, output_dir)
        metrics = fit_and_test(cfg, trainer, model, datamodule)
    except BaseException as err:
        finish_loggers(loggers, failed=True)
        lost = _lost_rank(err, callbacks, output_dir)
        if lost is not None:
            raise lost from err
        raise
    finish_loggers(loggers)
    return metrics.get(cfg.optimized_metric) if cfg.optimized_metric else None


class NoAdvertisement(logging.Filter):
    """Drops log records that advertise a product (Lightning's litlogger tip)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def quiet_foreign_noise() -> None:
    """Filter, precisely, console output a genlab user cannot act on: Lightning's litlogger
    advertisement (an INFO record of its rank_zero logger, twice per run) and the
    deprecation warning Lightning's own _pytree shim raises against torch's pytree API."""
    import warnings

    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        log = logging.getLogger(name)
        if not any(isinstance(f, NoAdvertisement) for f in log.filters):
            log.addFilter(NoAdvertisement())
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                            module=r"lightning\.pytorch\.utilities\._pytree")


def _lost_rank(err: BaseException, callbacks: list, output_dir: Path) -> GenlabError | None:
    """The RankLostError naming the rank behind a failed collective, or None."""
    from genlab.callbacks.rank_table import RankTable

    table = next((c for c in callbacks if isinstance(c, RankTable)), None)
    if table is None:
        return None
    return table.lost_rank_error(err, last_checkpoint(output_dir), output_dir.name)


def build_callbacks(cfg: DictConfig) -> list:
    """The configured callbacks; a progress bar is dropped when the trainer has it off."""
    from lightning.pytorch.callbacks import ProgressBar

    nodes = [*(cfg.get("callbacks") or {}).values(), cfg.get("metrics")]  # metrics: a callback
    callbacks = [instantiate(c) for c in nodes if c and "_target_" in c]
    if cfg.trainer.get("enable_progress_bar", True) is False:
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    # always on: exact resume (RNG state in checkpoints), SLURM preemption, and which rank
    # runs where (logged; names a rank that is lost)
    from genlab.callbacks.preemption import SlurmPreemption
    from genlab.callbacks.rank_table import RankTable
    from genlab.callbacks.rng_state import RNGState

    return [*callbacks, RNGState(), SlurmPreemption(), RankTable()]


def fit_and_test(cfg: DictConfig, trainer: Any, model: Any, datamodule: Any) -> dict[str, float]:
    """Fit, then test with the best checkpoint; report and return the final metrics."""
    metrics: dict[str, float] = {}
    if cfg.train:
        if cfg.get("ckpt_path"):
            load_checkpoint(cfg.ckpt_path)  # a clear error for a bad file, before fitting
        trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"),
                    weights_only=True)
        metrics.update(_floats(trainer.callback_metrics))
    ckpt_cb = trainer.checkpoint_callback
    best = ckpt_cb.best_model_path if ckpt_cb else ""
    if cfg.train and best and cfg.optimized_metric and ckpt_cb.monitor == cfg.optimized_metric:
        metrics[cfg.optimized_metric] = float(ckpt_cb.best_model_score)
    if cfg.test:
        ckpt = best or (cfg.get("ckpt_path") if not cfg.train else None)
        trainer.test(model, datamodule=datamodule, ckpt_path=ckpt or None, weights_only=True)
        metrics.update(_floats(trainer.callback_metrics))
    if trainer.is_global_zero:
        _report(metrics, Path(cfg.paths.output_dir), best)
    return metrics


def _floats(values: dict) -> dict[str, float]:
    return {k: float(v) for k, v in values.items()}


def _report(metrics: dict[str, float], output_dir: Path, best_ckpt: str) -> None:
    from rich.console import Console

    Console().print(metrics_table(metrics))
    record = {"metrics": metrics, "best_checkpoint": best_ckpt, "output_dir": str(output_dir)}
    tmp = output_dir / "metrics.json.tmp"
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(output_dir / "metrics.json")


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.get().mode == RunMode.MULTIRUN:  # a failed trial must not end the sweep
        from genlab.sweeps.failures import run_trial

        return run_trial(run, cfg)
    with reported_errors():
        return run(cfg)


def main() -> None:
    """Console-script entry point (`genlab-train`)."""
    command_main(_hydra_main, "train")


if __name__ == "__main__":
    main()
