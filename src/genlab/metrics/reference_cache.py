"""Reference statistics cache: real-data features computed once per key, shared by every run.

A key is a plain dict of everything that changes the features: the dataset (its config
without loader settings), the split, the extractor (name, weights hash, preprocessing) and
the number of images. The file name is a hash of the key and the key itself is stored in
the file, so a hash collision or a stale file is detected on read.

Files are `.npz` archives of plain arrays (`features`, plus `meta`: the key and a SHA-256
of the features as one JSON string), read with `allow_pickle=False`. Concurrency: writers
take an exclusive `fcntl.flock` on `<file>.lock`, re-check, compute, and write it with
`genlab.run_dir.atomic_write` (a private temporary file renamed into place), so a sweep of
concurrent jobs computes each entry once and no reader ever sees a half-written file. A file
that fails to load or verify is rebuilt.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from genlab.run_dir import atomic_write

FORMAT_VERSION = 1


def key_hash(key: dict) -> str:
    """A stable short hash of a JSON-able key."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def entry_path(cache_dir: str | Path, key: dict) -> Path:
    """<cache_dir>/reference_stats/<dataset>-<split>-<extractor>-<hash>.npz"""
    parts = [str(key.get(k, "x")) for k in ("dataset_name", "split", "extractor_name")]
    return Path(cache_dir) / "reference_stats" / f"{'-'.join(parts)}-{key_hash(key)}.npz"


def _digest(features: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(features).tobytes()).hexdigest()


def read_entry(path: Path, key: dict) -> np.ndarray | None:
    """The features stored at `path` for `key`, or None when missing, corrupt or stale."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            features = archive["features"]
    except Exception as err:  # truncated zip, bad header, missing member, bad JSON, ...
        warnings.warn(f"reference statistics {path} unreadable ({err}); rebuilding", stacklevel=2)
        return None
    if meta.get("version") != FORMAT_VERSION or meta.get("key") != json.loads(json.dumps(key)):
        return None
    if meta.get("sha256") != _digest(features):
        warnings.warn(f"reference statistics {path} fail their checksum; rebuilding",
                      stacklevel=2)
        return None
    return features


def write_entry(path: Path, key: dict, features: np.ndarray) -> None:
    """Atomic write (genlab.run_dir.atomic_write): readers never see half a file."""
    meta = json.dumps({"version": FORMAT_VERSION, "key": key, "sha256": _digest(features)})
    with atomic_write(path) as f:
        np.savez(f, features=features, meta=np.array(meta))


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `path` (created if needed), released on exit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_features(cache_dir: str | Path, key: dict,
                    compute: Callable[[], np.ndarray]) -> np.ndarray:
    """The reference features for `key`: read from the cache, or computed by `compute()`
    (float32 (N, D)) exactly once across concurrent processes and stored."""
    path = entry_path(cache_dir, key)
    features = read_entry(path, key)  # fast path: no lock needed, files appear atomically
    if features is not None:
        return features
    with file_lock(path.with_name(path.name + ".lock")):
        features = read_entry(path, key)  # another process may have written it meanwhile
        if features is None:
            features = np.ascontiguousarray(compute(), dtype=np.float32)
            write_entry(path, key, features)
    return features
