"""Reference statistics cache: hits, a race of 4 processes, corrupted files rebuilt."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
import pytest

from genlab.metrics.reference_cache import cached_features, entry_path

KEY = {"dataset_name": "digits", "dataset": {"name": "digits"}, "split": "test", "n": 50,
       "extractor_name": "classifier", "extractor": {"weights_sha256": "ab"}}


def _compute(log: Path, delay: float = 0.0):
    def compute() -> np.ndarray:
        with open(log, "a") as f:
            f.write("computed\n")
        time.sleep(delay)
        return np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    return compute


def _race(cache: str, log: str, out: str) -> None:
    features = cached_features(cache, KEY, _compute(Path(log), delay=0.5))
    np.save(out, features)


def test_second_call_hits_the_cache(tmp_path: Path) -> None:
    log = tmp_path / "log"
    first = cached_features(tmp_path / "cache", KEY, _compute(log))
    second = cached_features(tmp_path / "cache", KEY, _compute(log))
    assert log.read_text().count("computed") == 1
    np.testing.assert_array_equal(first, second)
    other = cached_features(tmp_path / "cache", {**KEY, "n": 49}, _compute(log))
    assert log.read_text().count("computed") == 2 and other.shape == (50, 8)


def test_four_processes_racing_compute_once(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    outs = [tmp_path / f"out{i}.npy" for i in range(4)]
    procs = [ctx.Process(target=_race, args=(str(tmp_path / "cache"), str(tmp_path / "log"),
                                             str(out))) for out in outs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert (tmp_path / "log").read_text().count("computed") == 1
    results = [np.load(out) for out in outs]
    for r in results[1:]:
        np.testing.assert_array_equal(results[0], r)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupted_file_is_rebuilt(tmp_path: Path, damage: str) -> None:
    log = tmp_path / "log"
    good = cached_features(tmp_path / "cache", KEY, _compute(log))
    path = entry_path(tmp_path / "cache", KEY)
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:  # one byte inside the feature array: only the checksum notices
        data[400] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="rebuilding"):
        rebuilt = cached_features(tmp_path / "cache", KEY, _compute(log))
    assert log.read_text().count("computed") == 2
    np.testing.assert_array_equal(good, rebuilt)
    np.load(path, allow_pickle=False)  # the rebuilt file is whole again
