"""Save an image grid as PNG in the run directory and log it to every attached logger
that takes images (W&B, TensorBoard). Only rank 0 writes; a logger that fails to take
the image is warned about and never stops training."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import torch
from PIL import Image, ImageDraw, ImageFont
from torchvision.utils import make_grid

from genlab import run_dir as layout
from genlab.callbacks.history import logging_step

MIN_SHORT_SIDE = 256  # pixels: a grid smaller than this is enlarged (nearest neighbour)
TITLE_PT = 14


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


def describe(trainer: L.Trainer, pl_module: L.LightningModule, final: bool = False) -> str:
    """"vae on digits, epoch 4 (step 99)": what a picture of this run shows, and when
    (0-based epoch, the one step axis: callbacks/history.py); `final`: drawn at the end of
    fit, after the last epoch."""
    model = (getattr(pl_module, "hparams", {}) or {}).get("name") or type(pl_module).__name__
    data = getattr(trainer.datamodule, "name", None) if trainer.datamodule else None
    if trainer.testing:
        when = "after testing"
    elif final:
        when = f"end of fit (step {logging_step(trainer)})"
    else:
        when = f"epoch {trainer.current_epoch} (step {logging_step(trainer)})"
    return f"{model}{f' on {data}' if data else ''}, {when}"


def grid_image(images: torch.Tensor, nrow: int, title: str,
               row_labels: list[str] | None = None) -> Image.Image:
    """images: (B, C, H, W) in [0, 1] → an RGB picture readable as it is: the grid enlarged
    without smoothing until its short side is ≥ MIN_SHORT_SIDE pixels, a title above
    (wrapped to the width) and, when given, a label left of each row."""
    images = images.detach().float().cpu().clamp(0, 1)
    grid = make_grid(images, nrow=nrow, padding=1, pad_value=1.0)  # (3, Hg, Wg)
    scale = max(1, -(-MIN_SHORT_SIDE // min(grid.shape[1:])))
    grid = grid.repeat_interleave(scale, 1).repeat_interleave(scale, 2)
    picture = Image.fromarray((grid.permute(1, 2, 0) * 255).round().byte().numpy())
    font = _font()
    draw = ImageDraw.Draw(picture)
    label_w = max((draw.textlength(t, font=font) for t in row_labels or []), default=0)
    left = int(label_w + 12) if row_labels else 0
    width = left + picture.width
    lines = _wrap(title, font, draw, width - 12)
    line_h = TITLE_PT + 6
    top = 8 + line_h * len(lines)
    canvas = Image.new("RGB", (width, top + picture.height), "white")
    canvas.paste(picture, (left, top))
    pen = ImageDraw.Draw(canvas)
    for i, line in enumerate(lines):
        pen.text((6, 4 + i * line_h), line, fill="black", font=font)
    row_h = (images.shape[-2] + 1) * scale
    for r, label in enumerate(row_labels or []):
        y = top + scale + r * row_h + (row_h - scale) // 2
        pen.text((6, y), label, fill="black", font=font, anchor="lm")
    return canvas


def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from matplotlib import font_manager

    try:
        return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), TITLE_PT)
    except OSError:
        return ImageFont.load_default()


def _wrap(text: str, font, draw: ImageDraw.ImageDraw, width: float) -> list[str]:
    lines: list[str] = []
    for word in text.split(" "):
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines or [""]


def log_class_table(trainer: L.Trainer, key: str, images: torch.Tensor, per_class: int,
                    classes: list[str]) -> None:
    """For W&B: a Table with one row per class (its name, its samples as one image), at the
    step axis' step, so a dashboard filters and compares classes across runs. images:
    (K·per_class, C, H, W) in [0, 1], class-major."""
    from lightning.pytorch.loggers import WandbLogger

    wandb_loggers = [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]
    if not wandb_loggers:
        return
    import wandb

    rows = []
    for k, name in enumerate(classes):
        row = images[k * per_class:(k + 1) * per_class].detach().float().cpu().clamp(0, 1)
        picture = grid_image(row, per_class, name)
        rows.append([k, name, wandb.Image(picture, caption=f"{name}, {describe_step(trainer)}")])
    for logger in wandb_loggers:
        try:
            logger.log_table(key=key, columns=["class_id", "class", "samples"], data=rows,
                             step=logging_step(trainer))
        except Exception as err:  # a tracker problem must not end a training run
            warnings.warn(f"W&B could not log table {key}: {err}", stacklevel=2)


def class_names(k: int) -> list[str]:
    """The row labels of a class-per-row grid."""
    return [f"class {c}" for c in range(k)]


def describe_step(trainer: L.Trainer) -> str:
    return f"epoch {trainer.current_epoch}, step {logging_step(trainer)}"


def save_grid(trainer: L.Trainer, key: str, images: torch.Tensor, nrow: int, title: str,
              row_labels: list[str] | None = None, tag: str | None = None) -> Path:
    """images: (B, C, H, W) in [0, 1] → <run_dir>/images/<key>_<tag>.png (titled, see
    grid_image), logged as `key`."""
    tag = tag or f"epoch{trainer.current_epoch:03d}"
    path = run_dir(trainer) / layout.IMAGES / f"{key.replace('/', '_')}_{tag}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(grid_image(images, nrow, title, row_labels), path, title)
    log_image_file(trainer, key, path)
    return path


def save_figure(trainer: L.Trainer, fig: Any, key: str, tag: str) -> Path:
    """A matplotlib figure → <run_dir>/images/<key>_<tag>.png (its axes' titles also in the
    PNG's Title chunk), logged as `key`; the figure is closed."""
    import matplotlib.pyplot as plt

    path = run_dir(trainer) / layout.IMAGES / f"{key}_{tag}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    title = " / ".join(t.replace("\n", ", ") for ax in fig.axes if (t := ax.get_title()))
    with layout.atomic_write(path) as f:
        fig.savefig(f, format="png", metadata={"Title": title})
    plt.close(fig)
    log_image_file(trainer, key, path)
    return path


def write_png(picture: Image.Image, path: Path, title: str) -> None:
    """Save atomically, with the title also in the PNG's `Title` text chunk (what the
    picture shows, readable by tools and tests without looking at it)."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Title", title)
    with layout.atomic_write(path) as f:
        picture.save(f, format="PNG", pnginfo=info)


@contextlib.contextmanager
def fixed_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Draw from a fixed seed without disturbing the training RNG: grids made under the
    same seed use the same noise in every epoch, and training stays reproducible."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
