"""The conditional suite's labels follow the reference split's class counts (issue 26),
on an unbalanced image folder the test writes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from fake_datasets import write_png_folder
from genlab.callbacks.sample_quality import SampleQuality, reference_labels
from genlab.data.image_folder import ImageFolderDataModule
from genlab.metrics.suite import labels_like

COUNTS = {"a_many": 36, "b_some": 12, "c_few": 6}  # 2/3, 2/9, 1/9 of 54 images


class _FlatFeatures(nn.Module):
    """An extractor (metrics/features.py) that needs no training: flattened pixels."""

    name, metric_suffix = "flat", "_flat"
    num_features = num_logits = 3 * 4 * 4
    identity = {"name": "flat"}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x.flatten(1), x.flatten(1)


class _ConditionalSampler(nn.Module):
    """A conditional GenerativeModel (models/generative.py) that records its labels."""

    conditional, num_classes, data_shape = True, 3, (3, 4, 4)
    device = torch.device("cpu")

    def __init__(self) -> None:
        super().__init__()
        self.labels: list[torch.Tensor] = []

    def sample(self, n: int, labels: torch.Tensor | None = None) -> torch.Tensor:
        self.labels.append(labels)
        return torch.rand(n, *self.data_shape)


class _Ignore:
    def to(self, device):
        return self

    def update(self, images, labels=None) -> None:
        pass

    def compute(self) -> dict:
        return {}

    def reset(self) -> None:
        pass


@pytest.fixture
def unbalanced(tmp_path: Path) -> ImageFolderDataModule:
    root = tmp_path / "folder"
    for seed, (name, n) in enumerate(COUNTS.items()):
        write_png_folder(root, [name], n_per_class=n, size=(4, 4), seed=seed)
    dm = ImageFolderDataModule(name="folder", root=str(root), image_size=4, channels=3,
                               val_fraction=0.5, test_fraction=0.25, batch_size=8,
                               num_workers=0)
    dm.setup("fit")
    return dm


@pytest.mark.parametrize(("stage", "n_samples", "n_reference"),
                         [("val", 1000, None), ("test", 500, None), ("val", 100, 20)])
def test_suite_labels_follow_the_reference_class_counts(
        unbalanced: ImageFolderDataModule, tmp_path: Path, stage: str, n_samples: int,
        n_reference: int | None) -> None:
    """Every label the suite gives `sample` during an evaluation, counted per class, is
    within one of n_samples × the class's share of the reference images (the first
    n_reference of the stage's split). Rules out uniform labels (arange % num_classes: 1/3
    each where the folder holds 2/3 of class 0), shares taken from the train split or the
    whole folder instead of the reference, and labels drawn i.i.d. from the shares (off by
    tens, not by at most one)."""
    split = {"val": "val", "test": "test"}[stage]
    suite = SampleQuality(features={}, data={"name": "folder"}, cache_dir=str(tmp_path / "c"),
                          n_samples=n_samples, n_reference=n_reference, batch_size=64)
    suite.extractor = _FlatFeatures()
    sampler = _ConditionalSampler()
    suite.metrics[stage] = suite.build(unbalanced, sampler, stage)
    suite.metrics[stage] = _Ignore()
    suite.evaluate(sampler, 0, 1, stage)

    given = torch.cat(sampler.labels)
    assert len(given) == n_samples
    dataset = unbalanced.splits[split]
    first = dataset.labels[: n_reference or len(dataset)]
    share = torch.bincount(torch.tensor(first), minlength=3).double() / len(first)
    assert (torch.bincount(given, minlength=3) - n_samples * share).abs().max() <= 1
    # the folder is unbalanced in this split too, so uniform labels would miss by far
    assert (n_samples * share - n_samples / 3).abs().max() > 10


def test_reference_labels_read_without_decoding_match_the_images_order(
        unbalanced: ImageFolderDataModule) -> None:
    """The labels counted are those of the reference images, in split order: rules out
    counting the whole folder or another split (their class mix differs)."""
    for split in ("val", "test"):
        dataset = unbalanced.splits[split]
        assert reference_labels(unbalanced, split, None).tolist() == \
            [dataset[i][1] for i in range(len(dataset))]
        assert reference_labels(unbalanced, split, 5).tolist() == \
            [dataset[i][1] for i in range(5)]


def test_labels_like_is_fixed_by_its_seed_and_mixes_classes() -> None:
    """Same seed, same labels (every validation of a run judges the same conditioning);
    the order is shuffled, so the first chunk is not all class 0 — rules out labels sorted
    by class, where a chunk dealt to one DDP rank would hold one class only."""
    reference = torch.tensor([0] * 60 + [1] * 30 + [2] * 10)
    a, b = labels_like(reference, 200, 3, seed=1), labels_like(reference, 200, 3, seed=1)
    assert torch.equal(a, b)
    assert torch.bincount(a).tolist() == [120, 60, 20]
    assert len(set(a[:20].tolist())) == 3
