"""`_target_`s that moved, rewritten when a run's saved config is read, so that run
directories written by earlier genlab versions still evaluate, sample and summarise without
shim modules at the old paths (tests/test_old_run_dirs.py reads one made before genlab's
layers existed). Add a line here when a class moves; never keep a module at the old path.
A class that was removed, not moved, is named in REMOVED_TARGETS: a config naming it is
refused in one paragraph that says what it was and what to do, instead of an ImportError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from genlab.errors import CheckpointError

MOVED_TARGETS = {
    # genlab/checkpointing.py, before genlab/runtime/ existed
    "genlab.checkpointing.AtomicCheckpointIO": "genlab.runtime.checkpoint_io.AtomicCheckpointIO",
    # runtime/checkpoints.py became runtime/checkpoint_io.py (beside callbacks/checkpoints.py)
    "genlab.runtime.checkpoints.AtomicCheckpointIO":
        "genlab.runtime.checkpoint_io.AtomicCheckpointIO",
    # callbacks/images.py became callbacks/grids.py (beside callbacks/image_logging.py)
    **{f"genlab.callbacks.images.{name}": f"genlab.callbacks.grids.{name}"
       for name in ("SampleGrid", "ReconstructionGrid", "InterpolationGrid")},
    # metrics/classifier.py became metrics/judge.py (beside nets/ and models/classifier.py:
    # the judge's net and its training)
    "genlab.metrics.classifier.ClassifierFeatures": "genlab.metrics.judge.ClassifierFeatures",
}


REMOVED_TARGETS = {
    "genlab.nets.classifier.ConvClassifier": (
        "the metric judge's net before VGGClassifier (global pooling; 58 % test accuracy on "
        "the shared MNIST), removed in genlab 0.1.0. Retrain the run with today's net "
        "(e.g. `genlab-train experiment=classifier_mnist`); cached judges are rebuilt on "
        "their own"),
}


def current_targets(node: Any) -> Any:
    """A plain config (dicts and lists) with every moved `_target_` at its current path;
    CheckpointError for a removed one."""
    if isinstance(node, dict):
        target = node.get("_target_")
        if target in REMOVED_TARGETS:
            raise CheckpointError(
                f"This run's config names `{target}`: {REMOVED_TARGETS[target]}.")
        moved = {"_target_": MOVED_TARGETS[target]} if target in MOVED_TARGETS else {}
        return {k: current_targets(v) for k, v in node.items()} | moved
    if isinstance(node, list):
        return [current_targets(v) for v in node]
    return node


def read_run_config(path: str | Path) -> DictConfig:
    """A run's saved config (config_resolved.yaml), its moved `_target_`s rewritten."""
    loaded = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    return OmegaConf.create(current_targets(loaded))
