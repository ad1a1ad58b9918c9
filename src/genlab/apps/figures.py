"""The apps' figures: a title, then labelled rows of images (originals, masked inputs, each
method's results), readable as they are: small images are enlarged (nearest neighbour)."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont
from torchvision.transforms.functional import to_pil_image
from torchvision.utils import make_grid

MIN_TILE = 40  # pixels per image side in the figure
LABEL_WIDTH = 150
TITLE_HEIGHT = 28
FONT_SIZE = 14


def _tiles(images: torch.Tensor) -> torch.Tensor:
    images = images.detach().float().cpu().clamp(0, 1)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    if images.shape[-1] < MIN_TILE:
        scale = -(-MIN_TILE // images.shape[-1])
        images = torch.nn.functional.interpolate(images, scale_factor=scale, mode="nearest")
    return images


def labelled_rows(rows: list[tuple[str, torch.Tensor]], title: str, path: Path) -> Path:
    """rows: (label, images (k, C, H, W) in [0, 1]) → a PNG at `path`: the title on top, each
    row's label at its left."""
    font = ImageFont.load_default(size=FONT_SIZE)
    grids = [to_pil_image(make_grid(_tiles(images), nrow=len(images), padding=2, pad_value=1.0))
             for _, images in rows]
    width = LABEL_WIDTH + max(g.width for g in grids)
    height = TITLE_HEIGHT + sum(g.height for g in grids)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((6, 6), title, fill="black", font=font)
    y = TITLE_HEIGHT
    for (label, _), grid in zip(rows, grids, strict=True):
        canvas.paste(grid, (LABEL_WIDTH, y))
        draw.text((6, y + grid.height // 2 - FONT_SIZE // 2), label, fill="black", font=font)
        y += grid.height
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path
