"""Writers for small datasets in their real on-disk formats (no network)."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

MNIST_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def write_idx(path: Path, array: np.ndarray) -> None:
    """IDX format: magic (0, 0, dtype=0x08 ubyte, ndim), big-endian int32 dims, raw bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(data_dir: Path, folder: str = "MNIST", n_train: int = 60, n_test: int = 20,
                seed: int = 0) -> None:
    """torchvision's layout: <data_dir>/<folder>/raw/{train,t10k}-{images,labels}-*-ubyte."""
    rng = np.random.default_rng(seed)
    for train, n in ((True, n_train), (False, n_test)):
        images, labels = MNIST_FILES[train]
        write_idx(data_dir / folder / "raw" / images, rng.integers(0, 256, (n, 28, 28)))
        write_idx(data_dir / folder / "raw" / labels, rng.integers(0, 10, (n,)))


def write_cifar10(data_dir: Path, n_per_batch: int = 12, seed: int = 0) -> None:
    """The CIFAR-10 python batches: pickled dicts with 'data' (N, 3072) uint8 and 'labels'."""
    rng = np.random.default_rng(seed)
    root = data_dir / "cifar-10-batches-py"
    root.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = {"batch_label": name,
                 "data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
                 "labels": rng.integers(0, 10, n_per_batch).tolist(),
                 "filenames": [f"{name}_{i}.png" for i in range(n_per_batch)]}
        with open(root / name, "wb") as f:
            pickle.dump(batch, f)
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                            "horse", "ship", "truck"], "num_cases_per_batch": n_per_batch}
    with open(root / "batches.meta", "wb") as f:
        pickle.dump(meta, f)


def write_png_folder(root: Path, classes: list[str] | None, n_per_class: int = 5,
                     size: tuple[int, int] = (40, 30), mode: str = "RGB", seed: int = 0) -> None:
    """PNG files in class sub-folders (or directly in root when classes is None)."""
    rng = np.random.default_rng(seed)
    channels = 3 if mode == "RGB" else 1
    for folder in [root / c for c in classes] if classes else [root]:
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
            Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode).save(
                folder / f"img_{i:03d}.png")
