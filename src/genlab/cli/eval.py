"""genlab-eval ckpt_path=...: test a trained checkpoint — the model's own test metrics (ELBO
and the IWAE NLL bound for VAEs) and the sample-quality suite — write eval.json into the
eval run directory and log to the configured loggers."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, open_dict

from genlab import run_dir
from genlab.cli.reporting import command_main, run_reporting_errors
from genlab.config import config_dir
from genlab.console import metrics_table


def run(cfg: DictConfig) -> dict[str, float]:
    """Evaluate `cfg.ckpt_path` on the test split of the data it was trained on."""
    from rich.console import Console

    from genlab.config.instantiate import instantiate
    from genlab.runtime.checkpoint_io import load_trained
    from genlab.runtime.environment import tweak_environment
    from genlab.runtime.trackers import build_loggers, finish_loggers

    tweak_environment()  # the same quiet console as genlab-train
    model, train_cfg = load_trained(cfg.ckpt_path, cfg.get("train_config"))
    with open_dict(cfg):
        cfg.data = train_cfg.data  # the metrics' reference data is the training data
        if not _overridden("metrics") and "metrics" in train_cfg:
            cfg.metrics = train_cfg.metrics  # the run's suite settings: its test, reproduced
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    datamodule = instantiate(cfg.data)
    callbacks = [instantiate(cfg.metrics)] if cfg.get("metrics") else []
    # the run's own performance options (NHWC weights on the CPU...): the same kernels as
    # the run's test, so the same checkpoint gives the same numbers bit for bit
    performance = (train_cfg.get("callbacks") or {}).get("performance")
    if performance and "_target_" in performance:
        callbacks.append(instantiate(performance))
    loggers = build_loggers(cfg.get("logger"), str(output_dir))
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    trainer.test(model, datamodule=datamodule, verbose=False)
    finish_loggers(trainer.loggers)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if trainer.is_global_zero:
        Console().print(metrics_table(metrics))
        record = {"metrics": metrics, "ckpt_path": str(cfg.ckpt_path),
                  "features": (cfg.get("metrics") or {}).get("features", {}).get("name")}
        run_dir.write_json(output_dir / run_dir.EVAL, record)
    return metrics


def _overridden(key: str) -> bool:
    """True when the command line set `key` or a key under it."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return False
    keys = (o.split("=", 1)[0].lstrip("+~") for o in HydraConfig.get().overrides.task)
    return any(k == key or k.startswith(f"{key}.") for k in keys)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="eval")
def _hydra_main(cfg: DictConfig) -> None:
    run_reporting_errors(run, cfg)


def main() -> None:
    """Console-script entry point (`genlab-eval`)."""
    command_main(_hydra_main, "eval")


if __name__ == "__main__":
    main()
