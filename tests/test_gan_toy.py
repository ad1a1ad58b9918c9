"""2-D toy mixtures and the mode-coverage metrics on constructed samples."""

import math

import pytest
import torch

from genlab.data.toy2d import Grid25, Ring8
from genlab.metrics.mode_coverage import ModeCoverage, mode_coverage

RING = Ring8(name="ring8")
CENTERS, STD = RING.mode_centers, RING.mode_std


def points_at(modes: torch.Tensor, n_per_mode: int, spread: float) -> torch.Tensor:
    torch.manual_seed(0)
    return (CENTERS[modes].repeat_interleave(n_per_mode, 0)
            + spread * torch.randn(len(modes) * n_per_mode, 2))


def test_ring_and_grid_centres() -> None:
    assert torch.allclose(CENTERS.norm(dim=1), torch.ones(8))
    grid = Grid25(name="grid25").mode_centers
    assert len(grid) == 25 and set(grid[:, 0].tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}


def test_toy_data_is_fixed_and_labelled_by_mode() -> None:
    dm = Ring8(name="ring8", train_size=100, val_size=50, test_size=50)
    dm.setup()
    x, y = dm.splits["val"].tensors
    assert x.shape == (50, 2) and dm.num_classes == 8 and dm.shape == (2,)
    assert ((x - CENTERS[y]).norm(dim=1) < 5 * STD).all()
    again = Ring8(name="ring8", train_size=100, val_size=50, test_size=50)
    again.setup()
    assert torch.equal(again.splits["val"].tensors[0], x)


REAL = points_at(torch.arange(8), 300, STD)


def test_all_modes_high_quality() -> None:
    m = mode_coverage(points_at(torch.arange(8), 300, STD), REAL, CENTERS, STD)
    assert m["modes"] == 8 and m["hq_ratio"] > 0.98 and m["reverse_kl"] < 1e-3


def test_one_mode() -> None:
    m = mode_coverage(points_at(torch.tensor([3]), 2500, STD), REAL, CENTERS, STD)
    assert m["modes"] == 1 and m["hq_ratio"] > 0.98
    assert m["reverse_kl"] == pytest.approx(math.log(8), abs=1e-4)


def test_scattered_noise_is_low_quality() -> None:
    torch.manual_seed(0)
    m = mode_coverage(torch.randn(2500, 2) * 3, REAL, CENTERS, STD)
    assert m["hq_ratio"] < 0.01


def test_high_quality_rule_is_three_std() -> None:
    inside = CENTERS[:1] + torch.tensor([[2.9 * STD, 0.0]])
    outside = CENTERS[1:2] * (1 + 3.1 * STD)
    m = mode_coverage(torch.cat([inside, outside]), REAL, CENTERS, STD)
    assert m["modes"] == 1 and m["hq_ratio"] == 0.5


def test_metric_accumulates_over_batches() -> None:
    """Batches that each hold one mode, of generated and of real points, add up to the
    metrics of all points at once — modes, hq_ratio and a reverse KL > 0 (unequal mode
    counts against uniform real ones). Rules out state that keeps only the last batch
    (1 mode, and a KL against a one-mode real histogram), a real histogram that is not
    accumulated, and values computed per batch and averaged (each batch alone has a KL of
    log p_real = 0 on its one mode vs the whole's)."""
    counts = [50, 100, 150, 200, 100, 100, 50, 50]
    fake = torch.cat([points_at(torch.tensor([k]), n, STD) for k, n in enumerate(counts)])
    fake[::10] += 10 * STD  # every 10th point is off its mode: hq_ratio 0.9, not 1
    metric = ModeCoverage(CENTERS, STD)
    for fake_batch, real_batch in zip(fake.split(counts), REAL.split(300), strict=True):
        metric.update(fake_batch, real_batch)
    accumulated = {k: float(v) for k, v in metric.compute().items()}
    whole = mode_coverage(fake, REAL, CENTERS, STD)
    assert accumulated == pytest.approx(whole, abs=1e-6)
    assert whole["modes"] == 8 and 0.85 < whole["hq_ratio"] < 0.9
    assert whole["reverse_kl"] > 0.05
