"""Checkpoints: written so that a kill cannot truncate them, read safely, and rebuilt into
the trained model for genlab-eval and genlab-sample.

Writing: Lightning's TorchCheckpointIO writes straight to the target path, so a SIGKILL
(OOM, preemption past the grace period) during the write leaves a truncated `last.ckpt`
that the next `resume=auto` would fail on. AtomicCheckpointIO writes through
`genlab.run_dir.atomic_write`: a reader sees the old checkpoint or the new one. Before
each write it checks that the file system has room for it (the size of the previous
checkpoint beside it, or of the tensors to write if larger), so a full disk stops the run
*before* the write with a WriteFailedError naming the file and the free space; the
newest complete checkpoint stays the newest. (torch.save itself reports a full disk as
"[enforce fail at inline_container.cc] unexpected pos", after the fact: the write error
underneath is kept and reported instead.)

Reading: always `weights_only=True`. A checkpoint from a colleague can carry a pickled
payload that runs code when unpickled; `weights_only=True` refuses it without executing
anything. genlab's own checkpoints hold plain data only (ARCHITECTURE.md), so they always load.

Rebuilding: the model class comes from the run's `config_resolved.yaml` (`model._target_`),
found in the run directory that holds the checkpoint (<run>/checkpoints/*.ckpt) or given as
`train_config=...`; the constructor arguments are the checkpoint's plain-data
hyper-parameters.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from omegaconf import DictConfig

from genlab import run_dir
from genlab.config.moved import read_run_config
from genlab.errors import CheckpointError


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path,
                        storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        path = Path(path)
        run_dir.check_free_space(path, expected_size(checkpoint, path))
        with run_dir.atomic_write(path) as f:
            torch.save(checkpoint, f)


SIZE_MARGIN = 64 * 1024  # the zip's headers and the pickled plain data, generously


def expected_size(checkpoint: dict[str, Any], path: Path) -> int:
    """Bytes the checkpoint will take: the largest checkpoint already beside `path` (the
    previous one), or its tensors' bytes plus a margin when that is more."""
    beside = [path, *path.parent.glob("*.ckpt")] if path.parent.is_dir() else []
    previous = max((p.stat().st_size for p in beside if p.is_file()), default=0)
    return max(previous, _tensor_bytes(checkpoint) + SIZE_MARGIN)


def _tensor_bytes(value: Any) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(_tensor_bytes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(_tensor_bytes(v) for v in value)
    return 0


def existing_checkpoint(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {path} does not exist; check `ckpt_path`.")
    return path


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> dict[str, Any]:
    """torch.load(path, weights_only=True), raising CheckpointError on any failure."""
    path = existing_checkpoint(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"Checkpoint {path} holds objects other than tensors and plain data, so it was "
            "refused unread (loading it could run arbitrary code). Only load checkpoints "
            f"from sources you trust; genlab's own checkpoints never need this. ({err!s:.200})"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as err:
        raise CheckpointError(
            f"Checkpoint {path} is truncated or corrupted and cannot be read ({err!s:.200}). "
            f"Use an earlier checkpoint of the run ({run_dir.CHECKPOINTS}/last.ckpt or "
            "best-*.ckpt)."
        ) from None


def check_fits(model: torch.nn.Module, checkpoint: dict[str, Any], ckpt_path: str) -> None:
    """Raise CheckpointError naming the differing keys when the checkpoint's weights do not
    fit `model` (instead of load_state_dict's wall of "Missing key(s)"). Modules a model
    builds only in `setup` (absent until then) are not counted as differences."""
    have = model.state_dict()
    saved = checkpoint.get("state_dict", {})
    missing = [k for k in have if k not in saved]
    extra = [k for k in saved if k not in have
             and getattr(model, k.split(".", 1)[0], None) is not None]
    shapes = [f"{k} (checkpoint {tuple(saved[k].shape)}, model {tuple(have[k].shape)})"
              for k in have if k in saved and hasattr(saved[k], "shape")
              and tuple(saved[k].shape) != tuple(have[k].shape)]
    if not (missing or extra or shapes):
        return

    def some(keys: list[str]) -> str:
        return ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")

    parts = [f"{label}: {some(keys)}" for label, keys in (
        ("different shapes", shapes), ("missing from the checkpoint", missing),
        ("not in the model", extra)) if keys]
    hp = checkpoint.get("hyper_parameters", {})
    made_by = f" (it was made by a `{hp['name']}` model)" if isinstance(hp, dict) and \
        hp.get("name") else ""
    raise CheckpointError(
        f"Checkpoint {ckpt_path}{made_by} does not fit the model this command builds — "
        f"{'; '.join(parts)}. Compose the run the checkpoint came from (its "
        f"{run_dir.CONFIG} lists the model and data), or drop the overrides that change "
        "the model's shape.")


def load_weights(model: torch.nn.Module, checkpoint: dict[str, Any], ckpt_path: str) -> None:
    """Fine-tuning: the checkpoint's weights into `model` (already checked to fit)."""
    check_fits(model, checkpoint, ckpt_path)
    have = model.state_dict()
    model.load_state_dict({k: v for k, v in checkpoint["state_dict"].items() if k in have})


def train_config_path(ckpt_path: str | Path, train_config: str | None = None) -> Path:
    existing_checkpoint(ckpt_path)  # "no such checkpoint" before "no training config"
    run = run_dir.of_checkpoint(ckpt_path)
    path = Path(train_config) if train_config else run / run_dir.CONFIG
    if not path.is_file():
        raise CheckpointError(
            f"No training config at {path}: genlab needs the run's {run_dir.CONFIG} to know "
            f"the model class and the data. Pass `train_config=<run dir>/{run_dir.CONFIG}`.")
    return path


def load_trained(ckpt_path: str, train_config: str | None = None,
                 map_location: str = "cpu") -> tuple[Any, DictConfig]:
    """→ (the LightningModule with the checkpoint's weights, in eval mode; the run's config)."""
    from hydra.utils import get_class

    cfg = read_run_config(train_config_path(ckpt_path, train_config))
    checkpoint = load_checkpoint(ckpt_path, map_location=map_location)
    model = get_class(cfg.model._target_)(**checkpoint["hyper_parameters"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval(), cfg
