"""Splits have one job each, and last.ckpt is the newest state.

- The metric suite compares samples with the validation split during training and with
  the test split only inside `trainer.test`, with other noise: the test split's images are
  not read before the test starts, and val and test values of one checkpoint differ.
- `last.ckpt` holds the final epoch and step for every model family, while the best
  checkpoint is chosen only on epochs where its metric was measured.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import Dataset

from genlab.callbacks.sample_quality import SampleQuality
from genlab.cli.train import run
from genlab.data.digits import DigitsDataModule

SUITE = ["metrics=default", "metrics.n_samples=100", "metrics.batch_size=50",
         "metrics.kid_subset_size=50", "metrics.features.max_epochs=1"]
TINY_GAN = ["model.generator.base_channels=8", "model.discriminator.base_channels=8",
            "+trainer.limit_train_batches=3", "+trainer.limit_val_batches=1"]


class SplitReadError(AssertionError):
    pass


class GuardedTest(Dataset):
    """The test split, refusing to give out an image unless the trainer is testing."""

    def __init__(self, inner: Dataset, datamodule: DigitsDataModule) -> None:
        self.inner, self.datamodule = inner, datamodule

    def __len__(self) -> int:  # a size is not data: the suite checks n_reference against it
        return len(self.inner)

    def __getitem__(self, i: int):
        trainer = getattr(self.datamodule, "trainer", None)
        if trainer is None or not trainer.testing:
            raise SplitReadError("the test split was read outside trainer.test")
        return self.inner[i]


class GuardedDigitsDataModule(DigitsDataModule):
    def build_splits(self) -> dict[str, Dataset]:
        splits = super().build_splits()
        splits["test"] = GuardedTest(splits["test"], self)
        return splits


def test_guard_catches_a_test_split_read_before_testing(compose_cfg) -> None:
    """The guard works: building the test stage's reference outside trainer.test raises
    (so the run below passing means nothing read the test split early)."""
    cfg = compose_cfg("experiment=dcgan_digits", *SUITE,
                      "data._target_=test_splits_and_checkpoints.GuardedDigitsDataModule")
    from hydra.utils import instantiate

    dm = instantiate(cfg.data)
    dm.setup()
    callback: SampleQuality = instantiate(cfg.metrics)
    model = instantiate(cfg.model, data_shape=list(dm.shape), num_classes=10,
                        _recursive_=False, _convert_="all")
    with pytest.raises(SplitReadError):
        callback.build(dm, model, "test")


def test_validation_never_touches_the_test_split(compose_cfg, tmp_path: Path) -> None:
    """A DCGAN run with the suite every epoch: fit (validation suite, best checkpoint on
    val/fid_classifier) never reads a test image, and the val and test values of the same
    (best) checkpoint differ. Rules out a validation suite that compares with the test
    split (the bug: val/fid_classifier equal to test/fid_classifier to every digit) and
    one that reuses the test stage's noise."""
    cfg = compose_cfg("experiment=dcgan_digits", *SUITE, *TINY_GAN, "trainer.max_epochs=2",
                      "metrics.every_n_epochs=1",
                      "data._target_=test_splits_and_checkpoints.GuardedDigitsDataModule")
    run(cfg)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]
    val, test = metrics["val/fid_classifier"], metrics["test/fid_classifier"]
    print("val/test fid_classifier of the best checkpoint:", val, test)
    assert val > 0 and test > 0 and abs(val - test) > 1e-3 * max(val, test)
    # the reference features of each stage are cached under their own split
    names = sorted(p.name.split("-")[1] for p in (tmp_path / "cache" / "reference_stats")
                   .glob("*.npz"))
    assert names == ["test", "val"]


def test_n_reference_larger_than_a_split_is_refused_before_training(compose_cfg) -> None:
    from genlab.errors import ConfigError

    cfg = compose_cfg("experiment=dcgan_digits", *SUITE, *TINY_GAN, "metrics.n_reference=300")
    with pytest.raises(ConfigError, match=r"metrics.n_reference.*\[2, 180\]"):
        run(cfg)


def _epochs_logged(run_dir: Path, key: str) -> list[int]:
    with open(run_dir / "csv" / "metrics.csv") as f:
        return sorted({int(r["epoch"]) for r in csv.DictReader(f) if r.get(key)})


@pytest.mark.parametrize("preset,extra", [
    ("vae_digits", ["model.iwae_samples=0", "+trainer.limit_train_batches=3"]),
    ("dcgan_digits", [*SUITE, *TINY_GAN]),
    ("cgan_digits", [*SUITE, *TINY_GAN]),
    ("gan_ring8", ["+trainer.limit_train_batches=3", "data.val_size=200", "data.test_size=200"]),
])
def test_last_checkpoint_is_the_final_state(compose_cfg, tmp_path: Path, preset: str,
                                            extra: list[str]) -> None:
    """After 3 epochs with the suite every 2 (measured at epochs 1 and 2, 0-based, the last
    always), last.ckpt holds epoch 2 and the final global step, and the best checkpoint is
    one of the epochs that measured its metric. Rules out last.ckpt saved only with a
    top-k save (it held epoch 1: the bug with every_n_epochs=N), and a best checkpoint
    ranked on a stale value from an earlier epoch."""
    cfg = compose_cfg(f"experiment={preset}", *extra, "trainer.max_epochs=3",
                      "metrics.every_n_epochs=2" if "metrics=default" in extra else "seed=1")
    run(cfg)
    out = tmp_path / "run"
    last = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    record = json.loads((out / "metrics.json").read_text())
    assert last["epoch"] == 2
    # 3 epochs × 3 batches; a GAN batch makes a D and a G step (2 optimizer steps)
    assert last["global_step"] == 3 * 3 * (1 if preset.startswith("vae") else 2)
    best = Path(record["best_checkpoint"])
    best_epoch = int(best.stem.removeprefix("best-epoch"))
    measured = _epochs_logged(out, cfg.optimized_metric)
    if "metrics=default" in extra:
        assert measured == [1, 2]
    assert best_epoch in measured
    assert torch.load(best, weights_only=True)["epoch"] == best_epoch


def test_val_size_beyond_the_train_split_is_one_paragraph(tmp_path: Path) -> None:
    """data.val_size ≥ the train images: a ConfigError naming the key and the range, from
    the data module's setup (before any training), not seeded_split's bare ValueError."""
    from conftest import run_cli
    from fake_datasets import write_mnist

    write_mnist(tmp_path / "data", "MNIST", n_train=30, n_test=10)
    proc = run_cli("data=mnist", "model=conv_vae", "data.val_size=40", "logger=csv",
                   "metrics=none", "trainer.max_epochs=1", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "`data.val_size` = 40; allowed: an integer in [1, 29]" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list((tmp_path / "logs").rglob("*.ckpt"))


def test_a_classifier_trained_on_other_data_is_refused(compose_cfg, tmp_path: Path) -> None:
    """A cached metric classifier whose record says it was trained on other data than the
    run's (a copied or stale cache entry) is refused, naming metrics.features."""
    from hydra.utils import instantiate

    from genlab.callbacks.sample_quality import data_key
    from genlab.errors import ConfigError

    cfg = compose_cfg("experiment=dcgan_digits", *SUITE)
    dm = instantiate(cfg.data)
    callback = instantiate(cfg.metrics)
    callback.build_extractor(dm)  # trains and caches it
    meta_path = next((tmp_path / "cache" / "classifiers").glob("*/meta.json"))
    meta = json.loads(meta_path.read_text())
    meta["key"]["data"]["name"] = "mnist"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match=r"`metrics.features`.*trained on this run's data"):
        instantiate(cfg.metrics).build_extractor(dm)
    assert data_key(callback.data)["name"] == "digits"


class _LastEpochSeen(L.Callback):
    """Records the epoch held by last.ckpt when each training epoch starts and at the end."""

    def __init__(self, path: Path) -> None:
        self.path, self.seen = path, []

    def _read(self) -> int | None:
        if not self.path.exists():
            return None
        return torch.load(self.path, weights_only=True, map_location="cpu")["epoch"]

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.seen.append(self._read())

    def on_fit_end(self, trainer, pl_module) -> None:
        self.seen.append(("end", self._read(),
                          torch.load(self.path, weights_only=True)["global_step"]))


class _Clock:
    """time.monotonic stand-in: each call is 4 s after the previous one."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 4.0
        return self.now


def _fit_boring(tmp_path: Path, min_interval_s: float, **trainer_kw) -> list:
    from lightning.pytorch.demos.boring_classes import BoringModel

    from genlab.callbacks.checkpoints import LastCheckpoint

    probe = _LastEpochSeen(tmp_path / "ckpt" / "last.ckpt")
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=1,
                        default_root_dir=str(tmp_path), callbacks=[
                            LastCheckpoint(str(tmp_path / "ckpt"), min_interval_s=min_interval_s),
                            probe], **trainer_kw)
    trainer.fit(BoringModel())
    return probe.seen


def test_last_checkpoint_interval(tmp_path: Path, monkeypatch) -> None:
    """last.ckpt after the first epoch, then at the first epoch end ≥ min_interval_s after
    the previous save (a fake clock, 4 s per reading: saves at epochs 0, 3 and the final 5),
    and the final state at the end. Rules out an interval that is ignored (a save every
    epoch), a final epoch left unsaved, and no save before the interval first elapses."""
    from genlab.callbacks import checkpoints

    monkeypatch.setattr(checkpoints, "time", _Clock())
    seen = _fit_boring(tmp_path / "a", 10.0, max_epochs=6, limit_train_batches=2)
    assert seen == [None, 0, 0, 0, 3, 3, ("end", 5, 12)]
    every = _fit_boring(tmp_path / "b", 0.0, max_epochs=4, limit_train_batches=2)
    assert every == [None, 0, 1, 2, ("end", 3, 8)]


def test_last_checkpoint_holds_a_fit_stopped_inside_an_epoch(tmp_path: Path) -> None:
    """max_steps=5 with 4 batches an epoch stops inside epoch 1, long before the interval
    elapses: last.ckpt still ends with global step 5. Rules out a final epoch recognised
    by max_epochs only (max_steps, max_time and early stopping end a fit too)."""
    seen = _fit_boring(tmp_path, 1e9, max_steps=5, limit_train_batches=4)
    assert seen[-1][0] == "end" and seen[-1][2] == 5
