"""genlab-train: compose the config, check it, build everything from `_target_`, fit,
test with the best checkpoint, return `optimized_metric`.

Importing this module imports neither torch nor Lightning: the config is validated first,
so a typo is reported in well under a second.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from genlab import run_dir
from genlab.cli.reporting import command_main, reported_errors
from genlab.config import config_dir
from genlab.config.instantiate import resolved
from genlab.config.redaction import redact
from genlab.config.schema import validate
from genlab.console import config_tree

CONFIG_ORDER = ("data", "model", "trainer", "logger", "callbacks", "paths")


def run(cfg: DictConfig) -> float | None:
    """Train and test one run; return the value of `cfg.optimized_metric`."""
    plain = prepare(cfg)  # resolved, validated, redacted; printed and saved

    import lightning as L

    from genlab.runtime.build import build_callbacks, build_data_and_model, build_trainer
    from genlab.runtime.environment import tweak_environment
    from genlab.runtime.fit import fit_and_test
    from genlab.runtime.ranks import rank_loss_named
    from genlab.runtime.resume import resume_checkpoint
    from genlab.runtime.trackers import tracked

    tweak_environment()
    output_dir = Path(cfg.paths.output_dir)
    # the trackers' runs start first, so that a run (a sweep trial) failing while its data,
    # model or trainer are built is in W&B, marked failed
    with tracked(plain, output_dir) as loggers:
        if cfg.get("seed") is not None:
            L.seed_everything(cfg.seed, workers=True, verbose=False)
        datamodule, model = build_data_and_model(cfg)
        callbacks = build_callbacks(cfg)
        trainer = build_trainer(cfg, callbacks, loggers)
        ckpt_path = resume_checkpoint(cfg, output_dir)  # resume=auto: the run dir's newest
        with rank_loss_named(trainer.callbacks, output_dir):
            metrics = fit_and_test(trainer, model, datamodule, fit=cfg.train, test=cfg.test,
                                   ckpt_path=ckpt_path, optimized_metric=cfg.optimized_metric,
                                   output_dir=output_dir)
    return metrics.get(cfg.optimized_metric) if cfg.optimized_metric else None


def prepare(cfg: DictConfig) -> dict:
    """The config as plain data: resolved, validated, then redacted (what is printed, saved
    and logged from here on). Rank 0 proves the locations, prints it and saves it."""
    from genlab.runtime.ranks import is_rank_zero

    plain = resolved(cfg)
    validate(plain)
    plain = redact(plain)
    if is_rank_zero():
        from rich.console import Console

        output_dir = run_dir.ensure_writable(cfg.paths.output_dir, "paths.output_dir")
        run_dir.ensure_writable(cfg.paths.cache_dir, "paths.cache_dir")
        Console().print(config_tree(plain, CONFIG_ORDER))
        run_dir.write_text(output_dir / run_dir.CONFIG, OmegaConf.to_yaml(OmegaConf.create(plain)))
    return plain


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.get().mode == RunMode.MULTIRUN:  # a failed trial must not end the sweep
        from genlab.runtime.trials import run_trial

        return run_trial(run, cfg)
    with reported_errors():
        return run(cfg)


def main() -> None:
    """Console-script entry point (`genlab-train`)."""
    command_main(_hydra_main, "train")


if __name__ == "__main__":
    main()
