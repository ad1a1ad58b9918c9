"""Reference statistics cache: real-data features computed once per key, shared by every run.

A key is a plain dict of everything that changes the features: the dataset (its config
without loader settings), the split, the extractor (name, weights hash, preprocessing) and
the number of images. The file name is a hash of the key and the key itself is stored in
the file, so a hash collision or a stale file is detected on read.

Files are `.npz` archives of plain arrays (`features`, plus `meta`: the key and a SHA-256
of the features as one JSON string), read with `allow_pickle=False`. Concurrency: writers
take an exclusive `fcntl.flock` on `<file>.lock`, re-check, compute, and write it with
`genlab.run_dir.atomic_write` (a private temporary file renamed into place), so a sweep of
concurrent jobs computes each entry once and no reader ever sees a half-written file.
The same lock guards the metric judge's entry (genlab/metrics/judge.py). Why `flock`
here and an O_EXCL lock file for run directories (genlab/runtime/run_lock.py): a cache
writer *waits* for the one computing the entry, and the kernel drops a flock when its
holder dies (a killed job leaves no stale lock to detect). On NFS, flock goes through the
lock daemon; where a mount has none (`nolock`) it is host-local, and two hosts may compute
one entry twice — still correct, because the entry appears by an atomic rename and is
verified when read: the lock only saves work, correctness never depends on it.

Healing (every cache entry: these files, the metric judge's, the Inception weights): an
entry is verified when read (it loads, and its checksum matches); a broken one is moved
aside to `<name>.broken-<UTC time>-<pid>` (kept for inspection, never read again), with a
`CacheEntryWarning` naming it, and rebuilt once under the lock; a rebuilt entry that fails
its verification too stops the run (`CacheError`, naming the file).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from genlab.errors import CacheError, GenlabWarning
from genlab.run_dir import atomic_write

FORMAT_VERSION = 1


class CacheEntryWarning(GenlabWarning):
    """A broken cache entry was moved aside and is being rebuilt."""


class BrokenCacheEntry(Exception):
    """`path` exists but fails to load or verify (`reason` says how)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = Path(path), reason


def first_sentence(err: BaseException) -> str:
    """The first sentence of an error's message (torch's run on for a paragraph)."""
    return str(err).strip().splitlines()[0].split(". ")[0].rstrip(".") if str(err) else \
        type(err).__name__


def move_aside(path: Path) -> Path:
    """Rename `path` to `<name>.broken-<UTC time>-<pid>` beside it → the new path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    target = path.with_name(f"{path.name}.broken-{stamp}-{os.getpid()}")
    os.replace(path, target)
    return target


def set_aside(broken: BrokenCacheEntry, what: str) -> None:
    """Move a broken entry's file aside and warn that it is being rebuilt."""
    moved = move_aside(broken.path)
    warnings.warn(f"{what} {broken.path} is broken ({broken.reason}); moved aside to "
                  f"{moved.name}, rebuilding it", CacheEntryWarning, stacklevel=3)


def rebuilt_entry_failed(broken: BrokenCacheEntry, what: str) -> CacheError:
    """The error for an entry that fails its verification right after being (re)built."""
    return CacheError(
        f"The {what} {broken.path} fails its verification right after being rebuilt "
        f"({broken.reason}): the cache's file system may be full or failing. Free space or "
        "point GENLAB_CACHE (paths.cache_dir) at another disk, then run again.")


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
    """The features stored at `path` for `key`; None when missing or stale (another format
    version or key: recomputed and replaced); BrokenCacheEntry when it fails to load or
    its checksum."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            features = archive["features"]
    except Exception as err:  # truncated zip, bad header, missing member, bad JSON, ...
        raise BrokenCacheEntry(path, f"unreadable: {first_sentence(err)}") from err
    if meta.get("version") != FORMAT_VERSION or meta.get("key") != json.loads(json.dumps(key)):
        return None
    if meta.get("sha256") != _digest(features):
        raise BrokenCacheEntry(path, "its features fail their SHA-256 checksum")
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
    with contextlib.suppress(BrokenCacheEntry):  # healed below, under the lock
        features = read_entry(path, key)  # fast path: no lock needed, files appear atomically
        if features is not None:
            return features
    with file_lock(path.with_name(path.name + ".lock")):
        try:
            features = read_entry(path, key)  # another process may have written it meanwhile
        except BrokenCacheEntry as broken:
            set_aside(broken, "reference statistics file")
            features = None
        if features is None:
            features = np.ascontiguousarray(compute(), dtype=np.float32)
            write_entry(path, key, features)
            try:
                read_entry(path, key)  # the rebuilt file is whole, or the run stops
            except BrokenCacheEntry as broken:
                raise rebuilt_entry_failed(broken, "reference statistics file") from None
    return features
