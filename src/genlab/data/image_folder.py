"""The user's own images: a folder with one sub-folder per class, or a flat folder.

    <root>/<class_a>/*.png, <root>/<class_b>/*.jpg ...   → labels 0..K-1 (sorted names)
    <root>/*.png                                         → no labels (y = -1)

Each image is converted to `channels` (1 = grey, 3 = RGB), resized so its short side is
`image_size` and center-cropped to image_size × image_size. Images are decoded lazily, so
folders larger than memory work; train/val/test are a seeded split of the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
from torch.utils.data import Dataset

from genlab.config.keys import Key, check
from genlab.data.base import SplitDataModule, seeded_split
from genlab.errors import ConfigError, DataFormatError, DataNotFoundError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def scan_image_folder(root: Path) -> tuple[list[Path], list[int], list[str]]:
    """List image files and their labels; class folders are the sub-directories of root."""
    if not root.is_dir():
        raise DataNotFoundError(
            f"Image folder {root.resolve()} does not exist. Set data.root to a folder of "
            "images (one sub-folder per class, or images directly in it)."
        )
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        files = _images_in(root)
        if not files:
            raise DataNotFoundError(
                f"Image folder {root.resolve()} holds no images "
                f"(looked for {', '.join(sorted(IMAGE_SUFFIXES))})."
            )
        return files, [-1] * len(files), []
    files, labels = [], []
    for label, folder in enumerate(class_dirs):
        found = _images_in(folder)
        if not found:
            raise DataFormatError(
                f"Class folder {folder.resolve()} holds no images; remove it or add images "
                f"({', '.join(sorted(IMAGE_SUFFIXES))})."
            )
        files += found
        labels += [label] * len(found)
    return files, labels, [p.name for p in class_dirs]


def check_headers(files: list[Path]) -> None:
    """Open every file's header (cheap: no pixel decoding) so that a broken file stops the
    run at setup, by name, instead of mid-epoch or never."""
    from PIL import Image, UnidentifiedImageError

    for path in files:
        try:
            with Image.open(path) as img:
                img.size  # noqa: B018 - reading the header is the check
        except (OSError, UnidentifiedImageError) as err:
            raise DataFormatError(f"Cannot read image {path}: {err}") from None


class ImageFiles(Dataset):
    """Decodes, resizes and center-crops image files on access → (x in [0, 1], y)."""

    def __init__(self, files: list[Path], labels: list[int], image_size: int, channels: int):
        from torchvision.transforms import v2

        self.files, self.labels, self.mode = files, labels, "L" if channels == 1 else "RGB"
        self.transform = v2.Compose([
            v2.ToImage(),
            v2.Resize(image_size, antialias=True),
            v2.CenterCrop(image_size),
            v2.ToDtype(torch.float32, scale=True),
        ])

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from PIL import Image, UnidentifiedImageError

        path = self.files[index]
        try:
            with Image.open(path) as img:
                img = img.convert(self.mode)
        except (OSError, UnidentifiedImageError) as err:
            raise DataFormatError(f"Cannot read image {path}: {err}") from err
        return self.transform(img), self.labels[index]


class ImageFolderDataModule(SplitDataModule):
    def __init__(
        self,
        root: Annotated[str, Key("the image folder (class subfolders give labels)",
                                 kind="path")],
        image_size: Annotated[int, Key("images resized and centre-cropped to this side",
                                       min=4)] = 32,
        channels: Annotated[int, Key("1 (grey) or 3 (RGB)", choices=(1, 3))] = 3,
        val_fraction: Annotated[float, Key("share of images for validation", min=0,
                                           max=0.9)] = 0.1,
        test_fraction: Annotated[float, Key("share of images for test", min=0,
                                            max=0.9)] = 0.1,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        check("genlab.data.image_folder.ImageFolderDataModule", locals())
        if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1:
            raise ConfigError(
                "data.val_fraction/test_fraction", (val_fraction, test_fraction),
                "fractions in [0, 1) whose sum is below 1",
            )
        self.root, self.image_size, self.channels = Path(root), image_size, channels
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self._scan: tuple[list[Path], list[int], list[str]] | None = None

    def _scanned(self) -> tuple[list[Path], list[int], list[str]]:
        if self._scan is None:
            self._scan = scan_image_folder(self.root)
        return self._scan

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.channels, self.image_size, self.image_size)

    @property
    def num_classes(self) -> int:
        return len(self._scanned()[2])

    def build_splits(self) -> dict[str, Dataset]:
        files, labels, _ = self._scanned()
        check_headers(files)
        n = len(files)
        n_val, n_test = round(n * self.val_fraction), round(n * self.test_fraction)
        if n - n_val - n_test < 1:
            raise ConfigError(
                "data.val_fraction + data.test_fraction",
                round(self.val_fraction + self.test_fraction, 6),
                f"a sum that leaves ≥ 1 of the {n} images of {self.root} to train on")
        test, val, train = seeded_split(n, [n_test, n_val, n - n_val - n_test], self.split_seed)

        def subset(idx: torch.Tensor) -> ImageFiles:
            return ImageFiles(
                [files[i] for i in idx], [labels[i] for i in idx], self.image_size, self.channels
            )

        return {"train": subset(train), "val": subset(val), "test": subset(test)}

    def split_size_error(self, split: str, minimum: int) -> ConfigError:
        n = len(self._scanned()[0])
        key = f"{split}_fraction"
        return ConfigError(f"data.{key}", getattr(self, key),
                           f"a fraction ≥ {minimum / n:.4g} ({minimum} of the {n} images "
                           f"of {self.root})")
