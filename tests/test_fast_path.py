"""The in-memory fast path yields exactly the DataLoader path's batches and results."""

import json
from pathlib import Path

import torch

from genlab.cli.train import run
from genlab.data.digits import DigitsDataModule


def _batches(in_memory: bool, seed: int, split: str = "train") -> list[list[torch.Tensor]]:
    dm = DigitsDataModule(name="digits", batch_size=64, in_memory=in_memory)
    torch.manual_seed(seed)
    loader = getattr(dm, f"{split}_dataloader")()
    return [list(b) for _ in range(2) for b in loader]  # two epochs


def test_same_batches_as_the_dataloader_for_the_same_seed() -> None:
    fast, slow = _batches(True, 3), _batches(False, 3)
    assert len(fast) == len(slow) == 2 * 20
    for (xf, yf), (xs, ys) in zip(fast, slow, strict=True):
        assert torch.equal(xf, xs) and torch.equal(yf, ys)
    other = _batches(True, 4)
    assert not torch.equal(other[0][0], fast[0][0])  # the seed matters
    for (xf, _), (xs, _) in zip(_batches(True, 0, "val"), _batches(False, 0, "val"), strict=True):
        assert torch.equal(xf, xs)


def test_fast_path_gives_the_same_run_results(compose_cfg, tmp_path: Path) -> None:
    results = []
    for fast in (True, False):
        cfg = compose_cfg("trainer.max_epochs=2", "callbacks=none", "model.iwae_samples=8",
                          f"data.in_memory={str(fast).lower()}", "trainer.deterministic=true",
                          output_dir=tmp_path / f"run_{fast}")
        run(cfg)
        results.append(json.loads((tmp_path / f"run_{fast}" / "metrics.json").read_text()))
    assert results[0]["metrics"] == results[1]["metrics"]


def test_metric_evaluations_leave_training_unchanged(compose_cfg, tmp_path: Path) -> None:
    """Evaluating the sample-quality suite (more or less often) must not change training."""
    results = []
    for every in (1, 3):
        cfg = compose_cfg("trainer.max_epochs=3", "callbacks=none", "model.iwae_samples=4",
                          "metrics=default", f"metrics.every_n_epochs={every}",
                          "metrics.n_samples=200", "metrics.kid_subset_size=50",
                          "metrics.features.max_epochs=1", output_dir=tmp_path / f"m{every}")
        run(cfg)
        record = json.loads((tmp_path / f"m{every}" / "metrics.json").read_text())["metrics"]
        results.append({k: v for k, v in record.items() if "elbo" in k or "kl" in k})
    assert results[0] == results[1]
