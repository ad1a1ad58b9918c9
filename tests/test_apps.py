"""genlab/apps: completion, inversion, arithmetic and interpolation against answers known in
closed form, and the pieces (masks, Yeh et al.'s weights, baselines, measures). Each test
names the wrong implementation it rules out."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from genlab.apps import arithmetic as arith
from genlab.apps.baselines import biharmonic, mean_fill, nearest_neighbour
from genlab.apps.complete import complete
from genlab.apps.interpolate import lerp, slerp
from genlab.apps.invert import invert, reconstruct
from genlab.apps.latent import LatentModel
from genlab.apps.masks import importance_weights, make_mask
from genlab.apps.measured import run_arithmetic
from genlab.apps.measures import hole_l1, hole_psnr, psnr, slant, stroke_mass
from genlab.apps.optimise import Fit
from genlab.config.instantiate import instantiate


class LinearGaussian(torch.nn.Module):
    """x = A z + b + ε, z ~ N(0, I_d), ε ~ N(0, σ² I): the best completion of the hole is the
    closed-form conditional mean E[x_hole | x_known] = b_h + Σ_hk Σ_kk⁻¹ (x_k − b_k),
    Σ = A Aᵀ + σ² I."""

    data_shape = (1, 4, 4)
    num_classes, conditional = 0, False

    def __init__(self, d: int = 3, sigma: float = 0.05, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.A = torch.nn.Parameter(0.06 * torch.randn(16, d, generator=g, dtype=torch.float64))
        self.b = torch.nn.Parameter(torch.full((16,), 0.5, dtype=torch.float64))
        self.sigma, self.hparams = sigma, SimpleNamespace(latent_dim=d)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return (z @ self.A.T + self.b).view(-1, *self.data_shape)

    def sample(self, n: int, labels=None) -> torch.Tensor:
        z = torch.randn(n, self.hparams.latent_dim, dtype=torch.float64)
        return self.decode(z) + self.sigma * torch.randn(n, *self.data_shape, dtype=torch.float64)

    def conditional_mean(self, x: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        cov = self.A @ self.A.T + self.sigma ** 2 * torch.eye(16, dtype=torch.float64)
        k, h = known.flatten().bool(), ~known.flatten().bool()
        flat = x.flatten(1)
        gain = cov[h][:, k] @ torch.linalg.inv(cov[k][:, k])
        return self.b[h] + (flat[:, k] - self.b[k]) @ gain.T


LG_FIT = Fit(steps=600, lr=0.05, restarts=1, norm=2, lam=2 * 0.05 ** 2)  # λ = 2σ²


def _lg_completion_error(lm: LatentModel, mask: torch.Tensor) -> float:
    torch.manual_seed(1)
    model = lm.model
    x = model.sample(6).detach()
    known = make_mask("center", 6, 4, 4).double()
    filled, _ = complete(lm, x, mask.double().expand(6, -1, -1, -1), None, LG_FIT, None,
                         torch.Generator().manual_seed(0))
    target = model.conditional_mean(x, known[0])
    assert target.min() > 0 and target.max() < 1  # images: the completion is clamped to [0, 1]
    hole = ~known[0].flatten().bool()
    return float((filled.flatten(1)[:, hole] - target).abs().max())


def test_linear_gaussian_completion_reaches_the_conditional_mean() -> None:
    """Rules out: a mask applied the wrong way round, the prior's sign or weight (λ = 2σ²
    makes the objective the negative log posterior), an optimiser that stops short."""
    lm = LatentModel(LinearGaussian()).frozen()
    assert _lg_completion_error(lm, make_mask("center", 1, 4, 4)) < 1e-3


def test_a_flipped_mask_or_prior_sign_fails_the_conditional_mean_test(monkeypatch) -> None:
    """The test above can fail: fitting the hole instead of the known pixels, or pushing z
    away from the prior, each lands far from the conditional mean."""
    lm = LatentModel(LinearGaussian()).frozen()
    assert _lg_completion_error(lm, 1 - make_mask("center", 1, 4, 4)) > 1e-2
    right = LatentModel.prior_loss
    monkeypatch.setattr(LatentModel, "prior_loss", lambda self, *a: -right(self, *a))
    assert _lg_completion_error(lm, make_mask("center", 1, 4, 4)) > 1e-2


def test_importance_weights_follow_yeh_et_al_eq_3() -> None:
    """W_i = (missing pixels in i's window) / |N(i)| on known pixels, 0 in the hole.
    Rules out: weights on the hole instead of around it, uniform weights (the reference
    code), a window padded with known pixels at the border (|N(i)| must count pixels inside)."""
    mask = torch.ones(1, 1, 5, 5)
    mask[..., 2, 2] = 0
    w = importance_weights(mask, 3)[0, 0]
    assert w[2, 2] == 0 and w[1, 1] == pytest.approx(1 / 9) and w[2, 3] == pytest.approx(1 / 9)
    assert w[0, 0] == 0 and w[4, 4] == 0  # no missing pixel in their windows
    corner = torch.ones(1, 1, 5, 5)
    corner[..., 0, 0] = 0
    w = importance_weights(corner, 3)[0, 0]
    assert w[0, 1] == pytest.approx(1 / 6) and w[1, 1] == pytest.approx(1 / 9)
    assert torch.equal(importance_weights(mask, None), mask)


def test_masks_hide_the_named_region() -> None:
    """Rules out: a mask with 1 on the hole (1 must mean known) or the wrong half."""
    center = make_mask("center", 2, 8, 8)
    assert center.shape == (2, 1, 8, 8) and center.sum() == 2 * 48 and center[0, 0, 4, 4] == 0
    bottom = make_mask("bottom_half", 1, 8, 8)
    assert bottom[0, 0, :4].all() and not bottom[0, 0, 4:].any()
    left = make_mask("left_half", 1, 8, 8)
    assert not left[0, 0, :, :4].any() and left[0, 0, :, 4:].all()
    box = make_mask("box", 1, 8, 8, box=[1, 2, 3, 4])
    assert box.sum() == 64 - 12 and box[0, 0, 1, 2] == 0 and box[0, 0, 4, 2] == 1
    rand = make_mask("random", 50, 8, 8, fraction=0.8, generator=torch.Generator().manual_seed(0))
    assert abs(float(1 - rand.mean()) - 0.8) < 0.03


def _digits_model(tmp_path, *overrides: str):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from genlab.config import config_dir

    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        cfg = compose("train", overrides=[f"paths.root_dir={tmp_path}", *overrides])
    GlobalHydra.instance().clear()
    torch.manual_seed(0)
    return instantiate(cfg.model, data_shape=[1, 8, 8], num_classes=10, _recursive_=False,
                       _convert_="all")


@pytest.mark.parametrize("overrides", [("experiment=dcgan_digits",), ("model=vae",)])
def test_inversion_recovers_images_drawn_from_the_generator(tmp_path, overrides) -> None:
    """x = G(z*) is recovered from x alone, to a small fraction of the distance between two
    samples. Rules out: a decoder without gradients (z never moves), the GAN's [−1, 1]
    output taken as [0, 1], keeping the worst restart instead of the best."""
    lm = LatentModel(_digits_model(tmp_path, *overrides)).frozen()
    g = torch.Generator().manual_seed(0)
    z_true = torch.randn(8, lm.latent_dim, generator=g)
    x = reconstruct(lm, z_true, None)
    z = invert(lm, x, None, Fit(steps=300, lr=0.05, restarts=3, norm=2), g)
    error = (reconstruct(lm, z, None) - x).abs().mean()
    spread = (x - x.roll(1, 0)).abs().mean()
    assert spread > 1e-3 and error < 0.05 * spread


def test_a_gaussian_prior_for_a_gan_is_half_the_squared_norm_and_pulls_z_in(tmp_path) -> None:
    """app.prior=gaussian on a GAN: the prior loss is ½‖z‖² (−log N(z; 0, I) + const), D is
    never asked, and λ > 0 ends nearer the origin than λ = 0 from the same starts. Rules
    out: the setting dropped between the app's config and the objective (D's loss used
    anyway), the prior's sign flipped (‖ẑ‖ would grow), the norm not halved or not squared."""
    from genlab.apps.measured import fit_of
    from genlab.apps.optimise import objective

    lm = LatentModel(_digits_model(tmp_path, "experiment=dcgan_digits")).frozen()
    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, lm.latent_dim, generator=g)
    x = reconstruct(lm, torch.randn(6, lm.latent_dim, generator=g), None)
    ones = torch.ones_like(x[:1])
    app = {"steps": 60, "lr": 0.05, "restarts": 1, "lam": 0.5, "norm": 2, "prior": "gaussian"}
    fit = fit_of(app)
    d_loss = objective(lm, z, x, ones, None, Fit(lam=0.5, norm=2)) - objective(
        lm, z, x, ones, None, Fit(norm=2))
    lm.model.discriminator.forward = None  # any call to D now raises
    extra = objective(lm, z, x, ones, None, fit) - objective(lm, z, x, ones, None, Fit(norm=2))
    torch.testing.assert_close(extra, 0.5 * 0.5 * z.pow(2).sum(1))
    assert not torch.allclose(d_loss, extra)  # D's loss (the "model" prior) is another term
    norms = {}  # the same starts: both runs draw them from a generator seeded alike
    for lam in (0.0, 0.5):
        z_hat = invert(lm, x, None, fit_of({**app, "lam": lam}), torch.Generator().manual_seed(1))
        norms[lam] = float(z_hat.norm(dim=1).mean())
    assert norms[0.5] < 0.9 * norms[0.0], norms


class Identity(torch.nn.Module):
    """A 'model' whose latent is the image: encode = flatten, decode = reshape."""

    data_shape, num_classes, conditional = (1, 4, 4), 10, False

    def __init__(self) -> None:
        super().__init__()
        self.hparams = SimpleNamespace(latent_dim=16)

    def encode(self, x: torch.Tensor):
        return x.flatten(1), torch.zeros_like(x.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z.view(-1, 1, 4, 4)


def test_arithmetic_with_an_identity_decoder_is_pixel_arithmetic() -> None:
    """z(source) − mean z(A) + mean z(B) decoded equals x − mean x(A) + mean x(B), on the same
    exemplars, exactly. Rules out: A and B swapped, exemplars differing between the latent and
    the pixel rows, k ignored, the source's own class left in as a target."""
    g = torch.Generator().manual_seed(0)
    pool_y = torch.arange(10).repeat(5)
    pool_x = 0.3 + 0.4 * torch.rand(50, 1, 4, 4, generator=g)
    x, y = 0.3 + 0.4 * torch.rand(12, 1, 4, 4, generator=g), torch.arange(12) % 10
    app = {"k": 3, "steps": 0, "lr": 0.1, "restarts": 1, "lam": 0.0, "norm": 2,
           "target_class": None}

    def judge(images: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(images), 10)

    result = run_arithmetic(LatentModel(Identity()), x, y, judge, app, 5, g, pool_x, pool_y, 10)
    method = result.method
    images, labels = torch.cat(result.images), torch.cat(result.labels)
    model = images[[m == "model" for m in method]]
    pixel = images[[m == "pixel" for m in method]]
    source = torch.cat(result.originals)[[m == "source" for m in method]]
    assert torch.equal(model, pixel)
    assert not torch.equal(model, source)  # the shift did something
    targets = labels[[m == "model" for m in method]]
    assert (targets != y).all()


def test_arithmetic_shift_direction_and_random_norm() -> None:
    """Rules out: − B + A instead of − A + B; a random direction of another length."""
    src, a, b = torch.zeros(2, 3), torch.ones(2, 3), 2 * torch.ones(2, 3)
    assert torch.equal(arith.concept_shift(src, a, b), torch.ones(2, 3))
    shift = torch.tensor([[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]])
    r = arith.random_direction(shift, torch.Generator().manual_seed(0))
    assert torch.allclose(r.norm(dim=1), torch.tensor([5.0, 1.0]))
    idx = arith.exemplar_indices(torch.tensor([0, 1, 0, 1, 0]), torch.tensor([0, 1]), 2,
                                 torch.Generator().manual_seed(0))
    assert set(idx[0].tolist()) <= {0, 2, 4} and set(idx[1].tolist()) == {1, 3}


def test_baselines_fill_only_the_hole_and_the_neighbour_is_judged_on_known_pixels() -> None:
    """Rules out: a nearest neighbour chosen on the whole image (the hole is unknown) or on
    the hole; a baseline that changes known pixels."""
    x = torch.zeros(1, 1, 4, 4)
    mask = make_mask("bottom_half", 1, 4, 4)
    twin = torch.zeros(1, 1, 4, 4)
    twin[..., 2:, :] = 1.0  # same known half, different hole
    decoy = torch.full((1, 1, 4, 4), 0.2)  # nearer over the whole image, not on known pixels
    train = torch.cat([decoy, twin])
    out = nearest_neighbour(x, mask, train)
    assert torch.equal(out[..., 2:, :], twin[..., 2:, :]) and torch.equal(out[..., :2, :],
                                                                          x[..., :2, :])
    filled = mean_fill(x, mask, torch.full((1, 4, 4), 0.5))
    assert torch.equal(filled[..., 2:, :], torch.full((1, 1, 2, 4), 0.5))
    flat = biharmonic(torch.full((1, 1, 6, 6), 0.7) * make_mask("center", 1, 6, 6)
                      + 0.7 * (1 - make_mask("center", 1, 6, 6)), make_mask("center", 1, 6, 6))
    assert torch.allclose(flat, torch.full_like(flat, 0.7), atol=1e-4)


def test_hole_measures_ignore_known_pixels() -> None:
    """Rules out: L1/PSNR averaged over the whole image (a small hole would look perfect),
    an infinite PSNR for an exact reconstruction."""
    x, r = torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)
    mask = make_mask("center", 1, 4, 4)
    r[..., 1:3, 1:3] = 0.5
    r[..., 0, 0] = 1.0  # a known pixel: not counted
    assert float(hole_l1(r, x, mask)) == pytest.approx(0.5)
    assert float(hole_psnr(r, x, mask)) == pytest.approx(10 * math.log10(1 / 0.25))
    assert float(psnr(x, x)) == 100.0  # identical images: capped, never Infinity in the JSON


def test_slant_and_stroke_mass() -> None:
    """Rules out: a slant whose sign does not follow the lean, or that ignores the ink."""
    upright, right, left = (torch.zeros(1, 1, 9, 9) for _ in range(3))
    for i in range(9):
        upright[0, 0, i, 4] = 1
        right[0, 0, i, 8 - i] = 1  # top to the right: leans right
        left[0, 0, i, i] = 1
    assert abs(float(slant(upright))) < 1e-6
    assert float(slant(right)) > 0.5 and float(slant(left)) < -0.5
    assert float(stroke_mass(right)) == 9


def test_slerp_keeps_the_norm_and_both_paths_end_at_the_ends() -> None:
    """Rules out: t running from 1 to 0, slerp equal to lerp for orthogonal latents."""
    z0, z1 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    for walk in (lerp, slerp):
        path = walk(z0, z1, 5)
        assert torch.allclose(path[:, 0], z0) and torch.allclose(path[:, -1], z1)
    assert torch.allclose(slerp(z0, z1, 5).norm(dim=-1), torch.ones(1, 5), atol=1e-6)
    assert lerp(z0, z1, 3)[0, 1].norm() < 0.8
    same = slerp(z0, z0, 3)  # parallel: no division by sin 0
    assert torch.isfinite(same).all() and torch.allclose(same, z0.expand(3, 2).unsqueeze(0))
