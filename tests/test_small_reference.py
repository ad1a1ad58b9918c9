"""FID from fewer reference images than feature dimensions (metrics/suite.py):
one warning line, from rank 0 only."""

from __future__ import annotations

import warnings

import pytest
import torch

from genlab.metrics.suite import SampleQualityMetrics, SmallReferenceWarning
from metrics_fakes import PassThroughFeatures


def _suite_warnings(n_reference: int, dim: int, rank: int = 0) -> list[str]:
    reference = torch.randn(n_reference, dim, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        SampleQualityMetrics(PassThroughFeatures(dim), reference, n_generated=5000, rank=rank,
                             world_size=2)
    return [str(w.message) for w in caught if issubclass(w.category, SmallReferenceWarning)]


@pytest.mark.parametrize(("n_reference", "dim", "warns"),
                         [(12, 16, True), (16, 16, True), (17, 16, False), (40, 16, False)])
def test_fid_warns_when_the_reference_covariance_is_singular(n_reference: int, dim: int,
                                                             warns: bool) -> None:
    """n reference features in D dimensions give a covariance of rank ≤ n − 1, singular
    for n ≤ D: one line that says so with both numbers. Rules out comparing D with the
    number of generated images (5,000 here, never fewer than D), a strict n < D (n = D is
    singular too: rank D − 1), counting a rank's shard (n / 2) instead of the whole
    reference, and a warning that fires for every reference size."""
    messages = _suite_warnings(n_reference, dim)
    assert len(messages) == (1 if warns else 0)
    if warns:
        text = messages[0]
        assert "\n" not in text
        assert f"{n_reference} reference images in {dim}-d features" in text
        assert f"rank ≤ {n_reference - 1}" in text and "fid_passthrough" in text


def test_only_rank_zero_warns() -> None:
    """Under DDP every rank builds the suite; the line is printed once. Rules out a
    warning from each rank."""
    assert _suite_warnings(12, 16, rank=1) == []
