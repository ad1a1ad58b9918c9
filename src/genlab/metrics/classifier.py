"""The `classifier` feature extractor: a small CNN (genlab/models/classifier.py) trained by
genlab on the dataset's train split, on first use, and cached.

Cache entry: <cache_dir>/classifiers/<dataset>-<hash>/{classifier.pt, meta.json}, keyed by
the dataset (its config without loader settings) and the classifier's own config (net,
optimiser, epochs, batch size, seed). `classifier.pt` is a plain state dict (loads with
weights_only=True); `meta.json` holds the key and the held-out (test split) accuracy.
Training happens under a file lock, so concurrent jobs train it once.

Input contract: x ∈ [0, 1] at the data's own shape (no resize, no quantisation).
Outputs the penultimate layer (`feature_dim`) and the class logits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from genlab.errors import ConfigError
from genlab.metrics.inception import file_sha256
from genlab.metrics.reference_cache import file_lock, key_hash

PREPROCESSING = "float [0,1] at the data's shape"


def _build(model: dict, datamodule: Any) -> nn.Module:
    from hydra.utils import instantiate

    return instantiate(model, data_shape=list(datamodule.shape),
                       num_classes=datamodule.num_classes, _recursive_=False, _convert_="all")


def train_classifier(model: dict, datamodule: Any, max_epochs: int, batch_size: int,
                     seed: int, out_dir: Path) -> dict[str, float]:
    """Fit the classifier on the train split (validating on val), test it on the test
    split, save its state dict; → {"val_acc", "test_acc"}. The caller's RNG is untouched."""
    import lightning as L

    datamodule.setup("fit")
    splits = datamodule.splits
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = _build(model, datamodule)
        trainer = L.Trainer(accelerator="auto", devices=1, max_epochs=max_epochs, logger=False,
                            enable_checkpointing=False, enable_progress_bar=False,
                            enable_model_summary=False, default_root_dir=str(out_dir))
        trainer.fit(net, DataLoader(splits["train"], batch_size=batch_size, shuffle=True),
                    DataLoader(splits["val"], batch_size=1024))
        val = trainer.callback_metrics["val/acc"].item()
        test = trainer.test(net, DataLoader(splits["test"], batch_size=1024), verbose=False)
    torch.save(net.state_dict(), out_dir / "classifier.pt")
    return {"val_acc": val, "test_acc": test[0]["test/acc"]}


class ClassifierFeatures(nn.Module):
    """x: (B, *data_shape) in [0, 1] → features (B, feature_dim), logits (B, num_classes)."""

    name = "classifier"
    metric_suffix = "_classifier"

    def __init__(self, model: dict, cache_dir: str, max_epochs: int = 20, batch_size: int = 128,
                 seed: int = 0, name: str = "classifier", *, datamodule: Any,
                 data_key: dict) -> None:
        super().__init__()
        if not datamodule.num_classes:
            raise ConfigError("metrics.features", "classifier", "inception for unlabelled data",
                              "The classifier extractor needs class labels to train on.")
        key = {"data": data_key, "model": model, "max_epochs": max_epochs,
               "batch_size": batch_size, "seed": seed}
        entry = Path(cache_dir) / "classifiers" / f"{data_key.get('name', 'data')}-{key_hash(key)}"
        entry.mkdir(parents=True, exist_ok=True)
        with file_lock(entry / "train.lock"):
            if not (entry / "meta.json").exists():
                accuracy = train_classifier(model, datamodule, max_epochs, batch_size, seed, entry)
                (entry / "meta.json").write_text(json.dumps({"key": key, **accuracy}, indent=2))
        self.info = json.loads((entry / "meta.json").read_text())
        self.classifier = _build(model, datamodule)
        state = torch.load(entry / "classifier.pt", map_location="cpu", weights_only=True)
        self.classifier.load_state_dict(state)
        self.classifier.requires_grad_(False).eval()
        self.num_features = self.classifier.net.head[-1].in_features
        self.num_logits = datamodule.num_classes
        self.identity = {"name": self.name, "weights_sha256": file_sha256(entry / "classifier.pt"),
                         "preprocessing": PREPROCESSING}

    def train(self, mode: bool = True) -> ClassifierFeatures:
        return super().train(False)  # a fixed network: batch norm and dropout stay in eval

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.classifier.features(x)
        return features, self.classifier.net.head(features)
