"""genlab-train: compose the config, check it, build everything from `_target_`, fit,
test with the best checkpoint, return `optimized_metric`.

Importing this module imports neither torch nor Lightning: the config is validated first,
so a typo is reported in well under a second.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from genlab import run_dir
from genlab.cli.reporting import answer_version, reported_errors
from genlab.config import config_dir
from genlab.config.instantiate import resolved
from genlab.config.redaction import redact
from genlab.config.schema import validate
from genlab.console import config_tree

CONFIG_ORDER = ("data", "model", "trainer", "logger", "callbacks", "paths")


def run(cfg: DictConfig) -> float | None:
    """Train and test one run; return the value of `cfg.optimized_metric`."""
    plain = prepare(cfg)  # resolved, validated, redacted

    import lightning as L

    from genlab.runtime.build import (
        adapt_log_interval,
        build_callbacks,
        build_data_and_model,
        build_trainer,
    )
    from genlab.runtime.checkpoint_io import check_fits, load_weights
    from genlab.runtime.environment import tweak_environment
    from genlab.runtime.fit import fit_and_test
    from genlab.runtime.ranks import is_rank_zero, rank_loss_named
    from genlab.runtime.resume import plan_start
    from genlab.runtime.stopping import lightning_exit, signals_stop_the_run
    from genlab.runtime.trackers import tracked
    from genlab.runtime.trials import failure_recorded

    tweak_environment()
    started = time.monotonic()
    output_dir = Path(cfg.paths.output_dir)
    # one writer per run directory (rank 0 holds it); a failed write or a signal from here
    # on is one paragraph saying how to continue the run
    with _run_dir_held(output_dir), signals_stop_the_run(output_dir):
        # fresh, continued in place or a child run; a bad checkpoint or a spent epoch budget
        # is refused here, before the run directory's record is touched
        start = plan_start(cfg, output_dir)
        if start.in_place:  # the run's own checkpoints are there by design
            import warnings

            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is "
                                    "not empty")
        if is_rank_zero():
            record(cfg, plain, start.describe(output_dir))
        # the trackers' runs start first, so that a run (a sweep trial) failing while its
        # data, model or trainer are built is in W&B, marked failed; from here on a failure
        # leaves failure.json and its traceback in the log (what genlab-compare shows)
        with failure_recorded(output_dir, run_dir.log_file(output_dir, cfg.task_name)), \
                tracked(plain, output_dir, start.at) as loggers:
            if cfg.get("seed") is not None:
                L.seed_everything(cfg.seed, workers=True, verbose=False)
            datamodule, model = build_data_and_model(cfg)
            if start.checkpoint is not None:  # a clear error when the weights don't fit
                fits = check_fits if start.in_place else load_weights
                fits(model, start.checkpoint, start.ckpt_path)
            callbacks = build_callbacks(cfg)
            trainer = build_trainer(cfg, callbacks, loggers)
            adapt_log_interval(trainer, datamodule)  # every epoch logs training values
            with rank_loss_named(trainer.callbacks, output_dir):
                try:
                    metrics = fit_and_test(trainer, model, datamodule, fit=cfg.train,
                                           test=cfg.test, ckpt_path=start.ckpt_path
                                           if start.in_place else None,
                                           optimized_metric=cfg.optimized_metric,
                                           output_dir=output_dir)
                except SystemExit as err:  # Lightning's own ends of Ctrl-C and SIGTERM
                    raise lightning_exit(trainer, err) from err
    if is_rank_zero():  # last, after the trackers' own closing lines
        print_closing(output_dir, time.monotonic() - started)
    return metrics.get(cfg.optimized_metric) if cfg.optimized_metric else None


def _run_dir_held(output_dir: Path) -> contextlib.AbstractContextManager:
    """The run directory's lock for the run (rank 0 only: the other ranks write nothing
    there); a no-op where `main` took it before Hydra wrote into the directory."""
    from genlab.runtime.ranks import is_rank_zero
    from genlab.runtime.run_lock import holding

    return holding(output_dir) if is_rank_zero() else contextlib.nullcontext()


def prepare(cfg: DictConfig) -> dict:
    """The config as plain data: resolved, validated, then redacted (what is printed, saved
    and logged from here on). Rank 0 proves the locations are writable."""
    from genlab.runtime.ranks import is_rank_zero

    plain = resolved(cfg)
    validate(plain)
    plain = redact(plain)
    if is_rank_zero():
        run_dir.ensure_writable(cfg.paths.output_dir, "paths.output_dir")
        run_dir.ensure_writable(cfg.paths.cache_dir, "paths.cache_dir")
    return plain


def record(cfg: DictConfig, plain: dict, start_line: str | None) -> None:
    """Print the config and how the run starts (continued, child run), and save the config
    in the run directory."""
    from rich.console import Console

    from genlab.console import print_note

    if cfg.get("print_config"):
        Console().print(config_tree(plain, CONFIG_ORDER))
    else:
        Console(highlight=False).print(run_header(cfg, plain), soft_wrap=True)
    if start_line:
        print_note(start_line + _changed_since_parent(cfg, plain))
    output_dir = Path(cfg.paths.output_dir)
    run_dir.write_text(output_dir / run_dir.CONFIG, OmegaConf.to_yaml(OmegaConf.create(plain)))


def run_header(cfg: DictConfig, plain: dict) -> str:
    """The few lines that say which run this is (the whole config: print_config=true, and
    always <run>/config_resolved.yaml)."""
    from hydra.core.hydra_config import HydraConfig

    from genlab.config.redaction import redact_override

    choices, overrides = {}, []
    if HydraConfig.initialized():
        hc = HydraConfig.get()
        choices = dict(hc.runtime.choices)
        # as typed (interpolations unresolved), and never a secret
        typed = OmegaConf.to_container(hc.overrides.task, resolve=False)
        overrides = [redact_override(str(o)) for o in typed if not str(o).startswith("hydra.")]
    picked = " · ".join(f"{g} {choices[g]}" for g in
                        ("experiment", "data", "model", "trainer", "logger", "metrics")
                        if choices.get(g) not in (None, "null"))
    wandb = next((v for v in (plain.get("logger") or {}).values()
                  if isinstance(v, dict) and str(v.get("_target_", "")).endswith("WandbLogger")),
                 None)
    lines = [f"[bold]genlab-train[/] {cfg.paths.output_dir}",
             f"  {picked} · seed {plain.get('seed')}" if picked else f"  seed {plain.get('seed')}"]
    if overrides:
        lines.append(f"  overrides: {' '.join(overrides)}")
    if wandb:
        mode = "offline" if wandb.get("offline") else "online"
        group = f", group {wandb['group']}" if wandb.get("group") else ""
        lines.append(f"  W&B: {wandb.get('project')}/{wandb.get('name')}{group} ({mode})")
    lines.append(f"  config: {Path(cfg.paths.output_dir) / run_dir.CONFIG} "
                 "(print_config=true prints it)")
    return "\n".join(lines)


def print_closing(output_dir: Path, seconds: float) -> None:
    """One closing paragraph: where the run is, how long it took, its best checkpoint and
    the commands to continue and to evaluate it (the numbers are in the table above)."""
    from rich.console import Console

    record = run_dir.read_json(output_dir / run_dir.METRICS) or {}
    best = record.get("best") or {}
    minutes, secs = divmod(round(seconds), 60)
    lines = [f"[bold]genlab:[/] done in {minutes} min {secs} s — {output_dir}"]
    if best:
        value = (best.get("val") or {}).get(best.get("monitor"))
        shown = f" ({best.get('monitor')} {value:.4f})" if value is not None else ""
        lines.append(f"  best: epoch {best['epoch']}{shown} → {best['checkpoint']}")
    last = output_dir / run_dir.CHECKPOINTS / "last.ckpt"
    if last.is_file():
        lines.append(f"  continue: genlab-train ckpt_path={last} {_budget_key(output_dir)}=<more>")
    tested = (record.get("test") or {}).get("checkpoint") or best.get("checkpoint")
    if tested and Path(tested).is_file():
        lines.append(f"  evaluate: genlab-eval ckpt_path={tested}")
    Console(highlight=False).print("\n".join(lines), soft_wrap=True)


def _budget_key(output_dir: Path) -> str:
    """The key that bounds this run: trainer.max_steps for a run bounded by steps only."""
    from omegaconf import OmegaConf

    from genlab.config import budget

    config = output_dir / run_dir.CONFIG
    trainer = OmegaConf.load(config).get("trainer", {}) if config.is_file() else {}
    unit = budget(trainer.get("max_epochs"), trainer.get("max_steps"), "unit")
    return f"trainer.max_{unit}s"


def _changed_since_parent(cfg: DictConfig, plain: dict) -> str:
    """For a child run: " Changed from the parent run: key old → new, ..."."""
    from genlab.config.continuation import changed_keys, is_continuation
    from genlab.config.moved import read_run_config

    ckpt = cfg.get("ckpt_path")
    parent = run_dir.of_checkpoint(ckpt) / run_dir.CONFIG if ckpt else None
    if not parent or not parent.is_file() or is_continuation(ckpt, cfg.paths.output_dir):
        return ""
    changes = changed_keys(OmegaConf.to_container(read_run_config(parent)), plain)
    return f" Changed from the parent run: {', '.join(changes)}." if changes else ""


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
    """Console-script entry point (`genlab-train`). With `ckpt_path=` the command is
    composed from the checkpoint's own run first (config/continuation.py). A run directory
    known before Hydra writes into it (`run_id=`, SLURM, a continued run) is locked first,
    so a second writer is refused before it touches the directory (runtime/run_lock.py)."""
    import sys

    from genlab.config.continuation import continued_argv
    from genlab.config.preflight import preflight
    from genlab.runtime.ranks import is_rank_zero
    from genlab.runtime.run_lock import holding, predictable_run_dir

    answer_version(sys.argv[1:])
    sys.argv[1:] = continued_argv(sys.argv[1:])
    with reported_errors():
        preflight(sys.argv[1:], "train")
        known = predictable_run_dir(sys.argv[1:]) if is_rank_zero() else None
    with reported_errors(), (holding(known) if known else contextlib.nullcontext()):
        _hydra_main()


if __name__ == "__main__":
    main()
