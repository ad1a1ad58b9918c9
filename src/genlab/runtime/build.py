"""A run's objects, built from `_target_` in the config: the data module, the model (sized by
the data's shape and classes), the callbacks (the configured ones, the metric suite and the
always-on ones) and the trainer. Never names a concrete model, dataset or logger."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from genlab.config.instantiate import instantiate


def build_data_and_model(cfg: DictConfig) -> tuple[Any, Any]:
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model, data_shape=list(datamodule.shape),
                        num_classes=datamodule.num_classes, _recursive_=False, _convert_="all")
    return datamodule, model


def build_callbacks(cfg: DictConfig) -> list:
    """The configured callbacks; a progress bar is dropped when the trainer has it off."""
    # the test behind SLURMEnvironment.detect(), without its warning about srun
    from lightning.fabric.plugins.environments.slurm import _is_srun_used
    from lightning.pytorch.callbacks import ProgressBar

    from genlab.callbacks.nan_guard import NonFiniteGuard
    from genlab.callbacks.preemption import SlurmPreemption, StopOnSignal
    from genlab.callbacks.rng_state import RNGState

    nodes = [*(cfg.get("callbacks") or {}).values(), cfg.get("metrics")]  # metrics: a callback
    callbacks = [instantiate(c) for c in nodes if c and "_target_" in c]
    if cfg.trainer.get("enable_progress_bar", True) is False:
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    # always on: exact resume (RNG state in checkpoints), the non-finite guard, a final
    # checkpoint on Ctrl-C (and SIGTERM outside SLURM); inside a SLURM job also preemption.
    # Outside one the preemption callback would do nothing but still be called on every
    # hook of every step (benchmarks/README.md: each callback costs ~20 µs a step in
    # Lightning's dispatch).
    in_slurm = _is_srun_used()
    slurm = [SlurmPreemption()] if in_slurm else []
    # a diverging run must stop naming the step even with callbacks=none
    guard = [] if any(isinstance(c, NonFiniteGuard) for c in callbacks) else \
        [NonFiniteGuard(every_n_steps=cfg.trainer.get("log_every_n_steps") or 50)]
    return [*callbacks, RNGState(), *guard, *slurm, StopOnSignal(sigterm=not in_slurm)]


def build_trainer(cfg: DictConfig, callbacks: list, loggers: list) -> Any:
    """The trainer; with more than one process it also gets the rank table (which rank runs
    where, logged; names a rank that is lost), which a single process has no use for."""
    from genlab.callbacks.rank_table import RankTable

    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers,
                          **_clipping_kept_by_the_model(cfg))
    if trainer.num_nodes * trainer.num_devices > 1:
        trainer.callbacks.append(RankTable())
    return trainer


def _clipping_kept_by_the_model(cfg: DictConfig) -> dict[str, None]:
    """A model with its own clipping keys (`clip_d`/`clip_g`: the GAN clips each player in
    its manual step, and conf/model takes `trainer.gradient_clip_*` as their defaults) gets
    the trainer's clipping instead of the Trainer: Lightning's validator refuses
    `gradient_clip_val` for a manual-optimisation model at fit, after the data is prepared."""
    if not {"clip_d", "clip_g"} & set(cfg.model or {}):
        return {}
    return {"gradient_clip_val": None, "gradient_clip_algorithm": None}


def adapt_log_interval(trainer: Any, datamodule: Any) -> None:
    """Epochs shorter than `trainer.log_every_n_steps` (digits: 20 batches against 50) log
    their training values once an epoch instead: Lightning counts batches across epochs, so
    a 2-epoch digits run logged no `train/*` value at all. The batches per epoch come from
    the data module's own loader (set up once; Lightning's later setup is a no-op), capped
    by `limit_train_batches`; under DDP that is the whole epoch's count, so ranks log at
    most every `world_size` epochs."""
    if not trainer.log_every_n_steps:
        return
    try:
        datamodule.setup("fit")
        batches = len(datamodule.train_dataloader())
    except (TypeError, NotImplementedError, AttributeError):
        return  # an iterable without a length: nothing to adapt to
    limit = trainer.limit_train_batches
    if isinstance(limit, int):
        batches = min(batches, limit)
    elif isinstance(limit, float) and limit < 1:
        batches = max(1, int(batches * limit))
    trainer.log_every_n_steps = max(1, min(trainer.log_every_n_steps, batches))
