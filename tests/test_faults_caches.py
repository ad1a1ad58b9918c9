"""Caches heal (issue 24, item 2): every cache entry (the metric judge's meta.json and
classifier.pt, reference statistics, the Inception weights) is verified when read; a
broken one is moved aside (`<name>.broken-<time>-<pid>`, its bytes kept) with a warning
naming it and rebuilt once; only a second failure stops the run, naming the file. The
Inception weights are not rebuilt (evaluation never downloads): a broken file is moved
aside and the run stops, naming it and `genlab-fetch`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import run_cli
from genlab.errors import CacheError
from genlab.metrics import judge, reference_cache
from genlab.metrics.inception import InceptionFeatures
from genlab.metrics.reference_cache import CacheEntryWarning, cached_features, entry_path

SUITE = ["metrics=default", "metrics.n_samples=100", "metrics.batch_size=50",
         "metrics.kid_subset_size=50", "metrics.features.max_epochs=1"]
RUN = [*SUITE, "trainer.max_epochs=1", "+trainer.limit_train_batches=2", "test=false",
       "callbacks=none", "logger=csv", "trainer.enable_progress_bar=false",
       "metrics.every_n_epochs=1"]


def _truncate(path: Path) -> bytes:
    """Cut `path` to half its bytes, as a killed copy leaves it → the bytes left."""
    data = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(data)
    return data


def _moved_aside(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.broken-*"))


def _judge_entry(compose_cfg) -> tuple[Path, object, object]:
    """Train the digits judge into the test's cache → (its entry, metrics config, data)."""
    from hydra.utils import instantiate

    cfg = compose_cfg(*SUITE)
    dm = instantiate(cfg.data)
    instantiate(cfg.metrics).build_extractor(dm)
    (entry,) = (Path(cfg.paths.cache_dir) / "classifiers").iterdir()
    return entry, cfg, dm


def test_truncated_judge_meta_is_rebuilt_from_the_command_line(compose_cfg,
                                                               tmp_path: Path) -> None:
    """The issue's case. Rules out: a JSONDecodeError naming no file; a broken file
    deleted (its bytes must stay beside it) or silently overwritten (the warning names
    it); a rebuild that leaves meta.json unparseable."""
    entry, _, _ = _judge_entry(compose_cfg)
    meta = entry / "meta.json"
    cut = _truncate(meta)
    proc = run_cli(*RUN, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"metric classifier file {meta} is broken (not valid JSON: " in proc.stderr
    assert "moved aside to meta.json.broken-" in proc.stderr and "Traceback" not in proc.stderr
    (aside,) = _moved_aside(meta)
    assert aside.read_bytes() == cut
    assert "val_acc" in json.loads(meta.read_text())


@pytest.mark.parametrize("recorded", [True, False], ids=["sha256-recorded", "older-entry"])
def test_truncated_judge_weights_are_retrained_once(compose_cfg, recorded: bool) -> None:
    """Rules out: torch's 'PytorchStreamReader failed' naming no file (the SHA-256 that
    meta.json records catches the cut first); retraining without moving the broken file
    aside; new weights that differ from the SHA-256 the new meta.json records. An entry
    from before the SHA-256 was recorded is caught by loading it."""
    entry, cfg, dm = _judge_entry(compose_cfg)
    weights = entry / "classifier.pt"
    if not recorded:
        record = json.loads((entry / "meta.json").read_text())
        del record["weights_sha256"]
        (entry / "meta.json").write_text(json.dumps(record))
    cut = _truncate(weights)
    from hydra.utils import instantiate

    reason = "its SHA-256 differs" if recorded else "does not load: PytorchStreamReader"
    with pytest.warns(CacheEntryWarning, match=rf"{weights} is broken \({reason}"):
        extractor = instantiate(cfg.metrics).build_extractor(dm)
    (aside,) = _moved_aside(weights)
    assert aside.read_bytes() == cut
    record = json.loads((entry / "meta.json").read_text())
    assert record["weights_sha256"] == extractor.identity["weights_sha256"]
    torch.load(weights, weights_only=True)


def test_a_rebuilt_judge_that_fails_again_stops_naming_the_file(compose_cfg,
                                                                monkeypatch) -> None:
    """Rules out: retrying forever, or using a broken rebuild (a second failure stops)."""
    entry, cfg, dm = _judge_entry(compose_cfg)
    _truncate(entry / "meta.json")

    def broken_training(model, datamodule, max_epochs, batch_size, seed, out_dir):
        (out_dir / "classifier.pt").write_bytes(b"PK\x03\x04 not a whole archive")
        return {"val_acc": 0.99, "epoch": 0, "train_seconds": 0.0, "n_train": 1}

    monkeypatch.setattr(judge, "train_classifier", broken_training)
    from hydra.utils import instantiate

    with pytest.warns(CacheEntryWarning, match="meta.json is broken"), \
            pytest.raises(CacheError, match=rf"metric classifier file {entry}/classifier.pt "
                          r"fails its verification right after being rebuilt"):
        instantiate(cfg.metrics).build_extractor(dm)
    assert len(_moved_aside(entry / "meta.json")) == 1


KEY = {"dataset_name": "digits", "dataset": {"name": "digits"}, "split": "val", "n": 50,
       "extractor_name": "classifier", "extractor": {"weights_sha256": "ab"}}


def _features() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)


def test_truncated_reference_statistics_are_moved_aside_and_rebuilt(tmp_path: Path) -> None:
    """Rules out: the broken file overwritten without a trace, or a warning that names no
    file."""
    good = cached_features(tmp_path, KEY, _features)
    path = entry_path(tmp_path, KEY)
    cut = _truncate(path)
    with pytest.warns(CacheEntryWarning, match=rf"reference statistics file {path} is broken "
                      r"\(unreadable: .*moved aside to .*rebuilding it"):
        rebuilt = cached_features(tmp_path, KEY, _features)
    np.testing.assert_array_equal(good, rebuilt)
    (aside,) = _moved_aside(path)
    assert aside.read_bytes() == cut
    assert cached_features(tmp_path, KEY, lambda: pytest.fail("recomputed")) is not None


def test_reference_statistics_failing_after_their_rebuild_stop_the_run(tmp_path: Path,
                                                                       monkeypatch) -> None:
    """Rules out: returning features whose file is broken on disk (the next run would find
    it broken again), or a second silent rebuild."""
    cached_features(tmp_path, KEY, _features)
    path = entry_path(tmp_path, KEY)
    _truncate(path)

    def half_write(path: Path, key: dict, features: np.ndarray) -> None:
        path.write_bytes(b"PK\x03\x04 half an archive")

    monkeypatch.setattr(reference_cache, "write_entry", half_write)
    with pytest.warns(CacheEntryWarning), pytest.raises(
            CacheError, match=rf"reference statistics file {path} fails its verification"):
        cached_features(tmp_path, KEY, _features)


@pytest.mark.parametrize("sha256", ["torch-fidelity", None])
def test_truncated_inception_weights_are_moved_aside_and_named(tmp_path: Path,
                                                               sha256: str | None) -> None:
    """Rules out: 'not torch-fidelity's weights' for a truncated download (its digest
    differs too), and a broken file left to fail the next run the same way."""
    path = tmp_path / "weights" / "inception.pth"
    path.parent.mkdir()
    torch.save({"w": torch.randn(4096)}, path)
    cut = _truncate(path)
    with pytest.raises(CacheError, match=rf"Inception weights {path} are truncated or "
                       r"corrupt .*moved aside to inception.pth.broken-.*genlab-fetch"):
        InceptionFeatures(str(path), sha256=sha256)
    assert not path.exists()
    (aside,) = _moved_aside(path)
    assert aside.read_bytes() == cut


def test_truncated_inception_weights_from_the_command_line(tmp_path: Path) -> None:
    """The run stops with one paragraph and exit 1 (not a traceback from torch)."""
    path = tmp_path / "inception.pth"
    torch.save({"w": torch.randn(4096)}, path)
    cut = _truncate(path)
    run = [o for o in RUN if not o.startswith("metrics.features.")]
    proc = run_cli(*run, "metrics/features=inception", f"metrics.features.weights_path={path}",
                   cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert f"error: Inception weights {path} are truncated or corrupt" in proc.stderr
    assert "Traceback" not in proc.stderr
    (aside,) = _moved_aside(path)
    assert aside.read_bytes() == cut
