"""Rebuild a trained model from its checkpoint, for genlab-eval and genlab-sample.

The model class comes from the run's `config_resolved.yaml` (`model._target_`), found in the
run directory that holds the checkpoint (<run>/checkpoints/*.ckpt) or given as
`train_config=...`; the constructor arguments are the checkpoint's plain-data
hyper-parameters, and the file is read with weights_only=True.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from genlab.errors import CheckpointError


def train_config_path(ckpt_path: str | Path, train_config: str | None = None) -> Path:
    run_dir = Path(ckpt_path).parent.parent
    path = Path(train_config) if train_config else run_dir / "config_resolved.yaml"
    if not path.is_file():
        raise CheckpointError(
            f"No training config at {path}: genlab needs the run's config_resolved.yaml to know "
            "the model class and the data. Pass `train_config=<run dir>/config_resolved.yaml`.")
    return path


def load_trained(ckpt_path: str, train_config: str | None = None,
                 map_location: str = "cpu") -> tuple[Any, DictConfig]:
    """→ (the LightningModule with the checkpoint's weights, in eval mode; the run's config)."""
    from hydra.utils import get_class

    from genlab.checkpoint_loading import load_checkpoint

    cfg = OmegaConf.load(train_config_path(ckpt_path, train_config))
    checkpoint = load_checkpoint(ckpt_path, map_location=map_location)
    model = get_class(cfg.model._target_)(**checkpoint["hyper_parameters"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval(), cfg
