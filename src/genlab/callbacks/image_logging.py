"""Save an image grid as PNG in the run directory and log it to every attached logger
that takes images (W&B, TensorBoard). Only rank 0 writes; a logger that fails to take
the image is warned about and never stops training."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import lightning as L
import torch
from torchvision.utils import make_grid, save_image

from genlab import run_dir as layout
from genlab.callbacks.history import logging_step

MIN_TILE = 32  # pixels: smaller images are enlarged (nearest neighbour) in saved grids


def run_dir(trainer: L.Trainer) -> Path:
    return Path(trainer.default_root_dir)


def log_image_file(trainer: L.Trainer, key: str, path: Path) -> None:
    """Log an existing PNG under `key` to each logger that takes images, at the step the
    scalars are logged at (callbacks/history.py)."""
    from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

    step = logging_step(trainer)
    for logger in trainer.loggers:
        try:
            if isinstance(logger, WandbLogger):
                logger.log_image(key=key, images=[str(path)], step=step)
            elif isinstance(logger, TensorBoardLogger):
                from PIL import Image
                from torchvision.transforms.functional import pil_to_tensor

                with Image.open(path) as img:
                    tensor = pil_to_tensor(img.convert("RGB"))
                logger.experiment.add_image(key, tensor, step)
        except Exception as err:  # a tracker problem must not end a training run
            warnings.warn(f"{type(logger).__name__} could not log image {key}: {err}",
                          stacklevel=2)


def save_grid(
    trainer: L.Trainer, key: str, images: torch.Tensor, nrow: int, tag: str | None = None
) -> Path:
    """images: (B, C, H, W) in [0, 1] → <run_dir>/images/<key>_<tag>.png, logged as `key`."""
    tag = tag or f"epoch{trainer.current_epoch:03d}"
    path = run_dir(trainer) / layout.IMAGES / f"{key.replace('/', '_')}_{tag}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    images = images.detach().float().cpu().clamp(0, 1)
    if images.shape[-1] < MIN_TILE:  # 8×8 digits would be unreadable: enlarge, no smoothing
        scale = -(-MIN_TILE // images.shape[-1])
        images = torch.nn.functional.interpolate(images, scale_factor=scale, mode="nearest")
    grid = make_grid(images, nrow=nrow, padding=1, pad_value=1.0)
    save_image(grid, path)
    log_image_file(trainer, key, path)
    return path


@contextlib.contextmanager
def fixed_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Draw from a fixed seed without disturbing the training RNG: grids made under the
    same seed use the same noise in every epoch, and training stays reproducible."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
