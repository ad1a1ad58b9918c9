"""The JSD diagnostics of genlab/metrics/jsd.py on cases with a known answer."""

import math

import pytest
import torch

from genlab.data.toy2d import Grid25, Ring8
from genlab.metrics.jsd import MixtureJSD, discrete_jsd, jsd_lower_bound

LOG2 = math.log(2)


@pytest.mark.parametrize("dm", [Ring8(name="ring8"), Grid25(name="grid25")])
def test_points_of_the_mixture_itself_score_near_zero(dm) -> None:
    # rules out wrong exact cell masses (σ² for σ, a cell offset by one, unequal weights):
    # any of them leaves a JSD of 0.1 or more against the mixture's own points
    jsd = MixtureJSD(dm.mode_centers, dm.mode_std)
    assert float(jsd.q.sum()) == pytest.approx(1.0, abs=1e-9)
    points, _ = dm.sample(20_000, torch.Generator().manual_seed(1))
    # the plug-in bias at 20,000 points (measured 0.0032 ring8, 0.0079 grid25)
    assert jsd(points) < 0.012
    more, _ = dm.sample(100_000, torch.Generator().manual_seed(2))
    assert jsd(more) < jsd(points)  # the bias shrinks with the number of points


def test_disjoint_supports_give_log_2() -> None:
    dm = Ring8(name="ring8")
    jsd = MixtureJSD(dm.mode_centers, dm.mode_std)
    assert jsd(torch.full((500, 2), 50.0)) == pytest.approx(LOG2, abs=1e-9)  # overflow bin
    # inside the grid but 20σ from every mode: the exact mass there is ~0
    assert jsd(torch.zeros(500, 2)) == pytest.approx(LOG2, abs=1e-6)


def test_one_mode_of_eight_matches_the_closed_form() -> None:
    # p = one mode, q = the uniform 8-mixture (modes disjoint): JSD = ½[log(16/9)
    # + (1/8)·log(2/9) + (7/8)·log 2]; rules out a mixture weight other than 1/K and a
    # histogram not normalised by the number of points
    dm = Ring8(name="ring8")
    jsd = MixtureJSD(dm.mode_centers, dm.mode_std)
    gen = torch.Generator().manual_seed(0)
    one = dm.mode_centers[3] + dm.mode_std * torch.randn(50_000, 2, generator=gen)
    exact = 0.5 * (math.log(16 / 9) + math.log(2 / 9) / 8 + 7 / 8 * LOG2)
    assert jsd(one) == pytest.approx(exact, abs=0.003)


def test_discrete_jsd_values() -> None:
    p = torch.tensor([0.5, 0.5, 0.0])
    assert float(discrete_jsd(p, p)) == 0.0
    assert float(discrete_jsd(p, torch.tensor([0.0, 0.0, 1.0]))) == pytest.approx(LOG2)
    q = torch.tensor([0.25, 0.25, 0.5])
    assert float(discrete_jsd(p, q)) == pytest.approx(float(discrete_jsd(q, p)))


def _two_gaussians(shift: float, n: int = 400_000):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, generator=gen, dtype=torch.float64)
    g = torch.randn(n, generator=gen, dtype=torch.float64) + shift
    # log p/q for p = N(0, 1), q = N(shift, 1): the optimal discriminator's logit
    logit = lambda t: (-(t**2) + (t - shift) ** 2) / 2  # noqa: E731
    return x, g, logit


def _numerical_jsd(shift: float) -> float:
    t = torch.linspace(-12, 12 + shift, 200_001, dtype=torch.float64)
    p = torch.exp(-(t**2) / 2) / math.sqrt(2 * math.pi)
    q = torch.exp(-((t - shift) ** 2) / 2) / math.sqrt(2 * math.pi)
    m = (p + q) / 2
    f = 0.5 * (p * (p / m).log() + q * (q / m).log())
    return float(torch.trapezoid(f, t))


def test_lower_bound_is_tight_at_the_optimal_discriminator_and_below_it_elsewhere() -> None:
    # D* = p / (p + q): (V(D*, G) + log 4)/2 = JSD (Goodfellow et al. 2014, Theorem 1);
    # rules out the wrong sign of the fake term (logsigmoid(l) for log(1 − D)), which gives
    # a value far from the JSD, and a missing factor 1/2
    shift = 1.5
    real, fake, logit = _two_gaussians(shift)
    truth = _numerical_jsd(shift)
    assert float(jsd_lower_bound(logit(real), logit(fake))) == pytest.approx(truth, abs=0.003)
    for worse in (lambda t: 0.3 * logit(t), lambda t: logit(t) + 1.0, lambda t: 0 * t):
        assert float(jsd_lower_bound(worse(real), worse(fake))) < truth - 0.01
    # D = 1/2 everywhere: V = −log 4, bound 0
    assert float(jsd_lower_bound(torch.zeros(3), torch.zeros(5))) == pytest.approx(0.0)
