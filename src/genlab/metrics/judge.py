"""The `classifier` feature extractor: a CNN (genlab/nets/classifier.py) trained by genlab
on the dataset's train split on first use, checked on its validation split, and cached.

Cache entry: <cache_dir>/classifiers/<dataset>-<hash>/{classifier.pt, meta.json}, keyed by
the dataset (its config without loader settings) and the whole training recipe
(`recipe_key`: net with its augmentation, optimiser, schedule, epochs, batch size, seed,
the epoch kept). `classifier.pt` is a plain state dict (loads with weights_only=True) of
the final epoch; `meta.json` holds the key, that epoch, its validation accuracy, the
training time and, once a run has reached
`trainer.test`, the held-out test accuracy (the test split is read only there, like every
other test number), and the SHA-256 of `classifier.pt`. Training happens under a file lock,
so concurrent jobs train it once; files are written to temporary names and renamed, so an
interrupted training leaves no entry. Both files are verified when read (meta.json parses
and names its accuracy, classifier.pt has the recorded SHA-256 and loads into the net): a
broken one is moved aside and the classifier retrained once (genlab/metrics/reference_cache.py).

The accuracy is the judge's credential: each suite logs the classifier's accuracy on its
own reference split (`val/classifier_acc`, `test/classifier_acc`), and a classifier below
`min_accuracy` makes the run warn loudly that its class-based numbers (class_acc,
*_classifier) are unreliable.

Input contract: x ∈ [0, 1] at the data's own shape (no resize, no quantisation).
Outputs the net's metric features (nets/classifier.py: pooled conv maps) and the logits.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from genlab.config.keys import Key
from genlab.errors import ConfigError, GenlabWarning
from genlab.metrics.inception import file_sha256
from genlab.metrics.reference_cache import (
    BrokenCacheEntry,
    file_lock,
    first_sentence,
    key_hash,
    rebuilt_entry_failed,
    set_aside,
)
from genlab.run_dir import atomic_write, write_json

PREPROCESSING = "float [0,1] at the data's shape"


class UnreliableJudgeWarning(GenlabWarning):
    """The classifier behind class_acc and *_classifier metrics is below its accuracy floor."""


def _build(model: dict, datamodule: Any) -> nn.Module:
    from hydra.utils import instantiate

    return instantiate(model, data_shape=list(datamodule.shape),
                       num_classes=datamodule.num_classes, _recursive_=False, _convert_="all")


def _write_meta(entry: Path, info: dict) -> None:
    write_json(entry / "meta.json", info)


def read_meta(path: Path) -> dict:
    """The judge's meta.json, or BrokenCacheEntry when it does not parse as one."""
    try:
        info = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:  # truncated, garbled
        raise BrokenCacheEntry(path, f"not valid JSON: {first_sentence(err)}") from err
    if not isinstance(info, dict) or "val_acc" not in info:
        raise BrokenCacheEntry(path, "no val_acc recorded")
    return info


def load_weights(net: nn.Module, path: Path, info: dict) -> str:
    """Load the judge's state dict at `path` into `net` → the file's SHA-256;
    BrokenCacheEntry when it differs from the one in meta.json (entries written before it
    was recorded skip that check) or does not load into the net."""
    digest = file_sha256(path)
    if info.get("weights_sha256", digest) != digest:
        raise BrokenCacheEntry(path, "its SHA-256 differs from the one in meta.json")
    try:
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as err:  # truncated zip, missing or misshapen tensors, ...
        raise BrokenCacheEntry(path, f"does not load: {first_sentence(err)}") from err
    return digest


@contextmanager
def one_cpu_thread() -> Iterator[None]:
    """Torch's CPU ops on one thread inside, the caller's thread count restored after. The
    judge's batches of 32 small images are too small to split: on the 2-core box one thread
    ran its steps 9× faster than two under load from other jobs (71 vs 672 ms a batch
    at 32 px; experiments/README.md#the-metric-judge-on-five-seeds)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_classifier(model: dict, datamodule: Any, max_epochs: int, batch_size: int,
                     seed: int, out_dir: Path) -> dict[str, float]:
    """Fit the classifier on the train split for `max_epochs` (its learning rate decays to
    ~0 over them), keep the final weights, read their validation accuracy and save their
    state dict to `out_dir/classifier.pt` (atomically) → {"val_acc", "epoch",
    "train_seconds", "n_train"}. The caller's RNG is untouched; the test split is not read.

    The final epoch, not the best validation one: on digits' 180 validation images the
    best epoch is a tie broken by noise (seed 1 kept epoch 3 of 20: test accuracy 0.978;
    the final epochs of seeds 0-4 give 0.992-0.994; experiments/README.md#the-metric-judge-
    on-five-seeds), and the validation accuracy stays an unselected held-out estimate."""
    import lightning as L
    from lightning.pytorch.callbacks import RichProgressBar
    from rich.console import Console

    datamodule.setup("fit")
    splits = datamodule.splits
    # first use only (then cached): say what the wait is, and show its progress with an ETA
    Console(highlight=False).print(
        f"[bold]genlab:[/] training the metric judge on {len(splits['train'])} images "
        f"({max_epochs} epochs, seed {seed}); it is cached in {out_dir} for later runs")
    work = out_dir / f"fit.{os.getpid()}"
    start = time.perf_counter()
    with torch.random.fork_rng(), one_cpu_thread():
        torch.manual_seed(seed)
        net = _build(model, datamodule)
        trainer = L.Trainer(accelerator="auto", devices=1, max_epochs=max_epochs, logger=False,
                            callbacks=[RichProgressBar(leave=False)],
                            enable_checkpointing=False, enable_model_summary=False,
                            check_val_every_n_epoch=max_epochs, num_sanity_val_steps=0,
                            default_root_dir=str(work))
        trainer.fit(net, DataLoader(splits["train"], batch_size=batch_size, shuffle=True),
                    DataLoader(splits["val"], batch_size=1024))
    seconds = time.perf_counter() - start
    with atomic_write(out_dir / "classifier.pt") as f:
        torch.save(net.cpu().state_dict(), f)
    shutil.rmtree(work, ignore_errors=True)
    return {"val_acc": float(trainer.callback_metrics["val/acc"]), "epoch": max_epochs - 1,
            "train_seconds": round(seconds, 1), "n_train": len(splits["train"])}


def recipe_key(data_key: dict, model: dict, max_epochs: int, batch_size: int,
               seed: int) -> dict:
    """The judge's whole training recipe — data, model (net with its augmentation,
    optimiser, schedule), epochs, batch size, seed, which epoch is kept — as its cache key:
    a judge trained under another recipe is never read as this one."""
    return {"data": data_key, "model": model, "max_epochs": max_epochs,
            "batch_size": batch_size, "seed": seed, "kept": "final epoch"}


def cache_entry(cache_dir: str | Path, key: dict) -> Path:
    """<cache_dir>/classifiers/<dataset>-<hash of recipe_key>"""
    return Path(cache_dir) / "classifiers" / f"{key['data'].get('name', 'data')}-{key_hash(key)}"


class ClassifierFeatures(nn.Module):
    """x: (B, *data_shape) in [0, 1] → features (B, feature_dim), logits (B, num_classes)."""

    name = "classifier"
    metric_suffix = "_classifier"

    def __init__(
        self,
        model: Annotated[dict, Key("the judge's classifier (conf/model/classifier.yaml)")],
        cache_dir: Annotated[str, Key("where trained judges are cached (keyed by the data "
                                      "and this whole recipe)", kind="path")],
        max_epochs: Annotated[int, Key("the judge's training epochs (its final one kept)",
                                       min=1)] = 10,
        batch_size: Annotated[int, Key("the judge's training batch", min=1)] = 128,
        seed: Annotated[int, Key("the judge's training seed", min=0, max=2**32 - 1)] = 0,
        name: Annotated[str, Key("the extractor's name in metric names",
                                 choices=("classifier",))] = "classifier",
        min_accuracy: Annotated[float, Key("below this test accuracy the run warns: "
                                           "class-based metrics unreliable", min=0,
                                           max=1)] = 0.9,
        *,
        datamodule: Any,
        data_key: dict,
    ) -> None:
        super().__init__()
        if not datamodule.num_classes:
            raise ConfigError("metrics.features", "classifier", "inception for unlabelled data",
                              "The classifier extractor needs class labels to train on.")
        key = recipe_key(data_key, model, max_epochs, batch_size, seed)
        entry = cache_entry(cache_dir, key)
        entry.mkdir(parents=True, exist_ok=True)
        self.classifier = _build(model, datamodule)
        with file_lock(entry / "train.lock"):
            self.info, digest = self._read_or_train(entry, key, datamodule)
        trained_on = self.info.get("key", {}).get("data")
        if trained_on != json.loads(json.dumps(data_key)):
            raise ConfigError(
                "metrics.features", f"the classifier in {entry}",
                f"a classifier trained on this run's data ({data_key.get('name')})",
                f"It was trained on {trained_on!r}; a judge trained on other data measures "
                "nothing about this data. Delete that folder and it is retrained.")
        self.classifier.requires_grad_(False).eval()
        self.num_features = self.classifier.net.num_features
        self.num_logits = datamodule.num_classes
        # the config too: `feature_grid` changes the features, not the weights (the same
        # seed trains the same weights), and the reference statistics are keyed by this
        self.identity = {"name": self.name, "weights_sha256": digest,
                         "preprocessing": PREPROCESSING, "model": model}
        self.entry, self.min_accuracy = entry, min_accuracy
        self._check_floor("val")

    def _read_or_train(self, entry: Path, key: dict, datamodule: Any) -> tuple[dict, str]:
        """(meta.json's record, classifier.pt's SHA-256) of the entry, its weights loaded
        into self.classifier; trained first when missing, and once more when broken (the
        broken file moved aside). Call under the entry's lock."""
        meta, weights = entry / "meta.json", entry / "classifier.pt"
        trained = False
        while True:
            if not meta.exists() or not weights.exists():
                accuracy = train_classifier(key["model"], datamodule, key["max_epochs"],
                                            key["batch_size"], key["seed"], entry)
                _write_meta(entry, {"key": key, **accuracy,
                                    "weights_sha256": file_sha256(weights)})
                trained = True
            try:
                info = read_meta(meta)
                return info, load_weights(self.classifier, weights, info)
            except BrokenCacheEntry as broken:
                if trained:
                    raise rebuilt_entry_failed(broken, "metric classifier file") from None
                set_aside(broken, "metric classifier file")

    def accuracy(self, split: str, datamodule: Any) -> float:
        """The classifier's accuracy on `split` ("val" or "test") of the data, computed once
        and stored in meta.json; call with "test" only inside trainer.test."""
        key = f"{split}_acc"
        if key not in self.info:
            with file_lock(self.entry / "train.lock"):
                try:  # another run may have added to it
                    info = read_meta(self.entry / "meta.json")
                except BrokenCacheEntry as broken:  # rebuilt from the record read at start
                    set_aside(broken, "metric classifier file")
                    info = dict(self.info)
                if key not in info:
                    info[key] = self._accuracy_on(datamodule.splits[split])
                    _write_meta(self.entry, info)
            self.info = info
            self._check_floor(split)
        return float(self.info[key])

    @torch.no_grad()
    def _accuracy_on(self, dataset: Any) -> float:
        device = next(self.classifier.parameters()).device
        correct = 0
        # a DataLoader draws a seed from the global RNG: a first run (which computes this)
        # and a cached rerun must leave the run's RNG stream identical
        with torch.random.fork_rng(devices=[]):
            for x, y in DataLoader(dataset, batch_size=1024):
                correct += int((self.classifier(x.to(device)).argmax(1).cpu() == y).sum())
        return correct / len(dataset)

    def _check_floor(self, split: str) -> None:
        value = self.info.get(f"{split}_acc")
        if value is not None and value < self.min_accuracy:
            warn_unreliable(value, split, self.min_accuracy, self.entry)

    def train(self, mode: bool = True) -> ClassifierFeatures:
        return super().train(False)  # a fixed network: batch norm and dropout stay in eval

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.classifier.net.features_and_logits(x)


def warn_unreliable(accuracy: float, split: str, floor: float, entry: Path) -> None:
    """A loud warning (a rich panel on stderr and a Python warning) that the judge is weak."""
    message = (f"The metric classifier ({entry}) reaches only {accuracy:.3f} accuracy on the "
               f"{split} split, "
               f"below metrics.features.min_accuracy = {floor}: this run's class_acc and "
               "*_classifier metrics (FID, KID, IS, precision/recall) are UNRELIABLE. Train "
               "it longer (metrics.features.max_epochs) or use metrics/features=inception.")
    from rich.console import Console
    from rich.panel import Panel

    Console(stderr=True).print(Panel(message, title="unreliable metric classifier",
                                     style="bold red"))
    warnings.warn(message, UnreliableJudgeWarning, stacklevel=3)
