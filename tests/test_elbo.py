"""ELBO pieces against torch.distributions; the IWAE bound's ordering."""

import math

import torch
from torch.distributions import Bernoulli, Independent, Normal
from torch.distributions import kl_divergence as td_kl

from genlab.metrics.elbo import (
    bernoulli_log_likelihood,
    gaussian_log_likelihood,
    iwae_bound,
    kl_divergence,
    log_normal_diag,
    log_standard_normal,
    reparameterize,
)
from genlab.models.vae import VAE

torch.manual_seed(0)


def _normal(mu, logvar):
    return Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)


def test_kl_matches_torch_distributions() -> None:
    mu, logvar = torch.randn(32, 7), torch.randn(32, 7)
    prior = _normal(torch.zeros(7), torch.zeros(7))
    expected = td_kl(_normal(mu, logvar), prior)
    assert torch.allclose(kl_divergence(mu, logvar), expected, atol=1e-5)
    assert torch.allclose(kl_divergence(torch.zeros(3, 4), torch.zeros(3, 4)), torch.zeros(3))


def test_log_likelihoods_match_torch_distributions() -> None:
    logits = torch.randn(16, 1, 8, 8)
    x = torch.bernoulli(torch.rand(16, 1, 8, 8))
    expected = Bernoulli(logits=logits).log_prob(x).flatten(1).sum(-1)
    assert torch.allclose(bernoulli_log_likelihood(logits, x), expected, atol=1e-4)

    mean, log_std, xg = torch.rand(16, 3, 4, 4), torch.randn(3, 4, 4) * 0.3, torch.rand(16, 3, 4, 4)
    expected = Normal(mean, log_std.exp()).log_prob(xg).flatten(1).sum(-1)
    assert torch.allclose(gaussian_log_likelihood(mean, log_std, xg), expected, atol=1e-4)

    z, mu, logvar = torch.randn(5, 16, 3), torch.randn(16, 3), torch.randn(16, 3)
    assert torch.allclose(log_normal_diag(z, mu, logvar), _normal(mu, logvar).log_prob(z),
                          atol=1e-4)
    standard = _normal(torch.zeros(3), torch.zeros(3))
    assert torch.allclose(log_standard_normal(z), standard.log_prob(z), atol=1e-4)


def test_iwae_bound_of_one_sample_is_the_log_weight() -> None:
    log_w = torch.randn(1, 10)
    assert torch.allclose(iwae_bound(log_w), log_w[0])
    # K equal weights: the bound is that weight
    assert torch.allclose(iwae_bound(torch.full((50, 3), -2.0)), torch.full((3,), -2.0))
    # log-mean-exp, not mean: above the mean of the log weights (Jensen)
    log_w = torch.randn(100, 4)
    assert (iwae_bound(log_w) >= log_w.mean(0)).all()
    assert torch.allclose(iwae_bound(log_w), torch.logsumexp(log_w, 0) - math.log(100))


def _vae(**kwargs) -> VAE:
    return VAE(
        data_shape=[1, 8, 8], latent_dim=4,
        encoder={"_target_": "genlab.nets.mlp.MLPEncoder", "hidden_dims": [32]},
        decoder={"_target_": "genlab.nets.mlp.MLPDecoder", "hidden_dims": [32]},
        optimizer={"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3}, **kwargs,
    )


def test_iwae_is_above_elbo_and_tightens_with_k() -> None:
    torch.manual_seed(1)
    model = _vae(iwae_chunk=64)
    x = torch.bernoulli(torch.rand(256, 1, 8, 8))
    with torch.no_grad():
        elbo = torch.stack([model.elbo_terms(x)["elbo"] for _ in range(20)]).mean()
        bounds = [model.iwae_log_likelihood(x, k).mean() for k in (1, 10, 100, 1000)]
    assert abs(bounds[0] - elbo) < 0.5  # K = 1 is the ELBO (up to sampling noise)
    assert bounds[0] < bounds[1] < bounds[2] < bounds[3]
    assert bounds[3] - elbo > 0.1


def test_gaussian_learned_std_is_a_parameter() -> None:
    model = _vae(likelihood="gaussian", learn_std=True, gaussian_std=0.2)
    assert model.log_std.requires_grad
    assert torch.allclose(model.std(), torch.full((1, 8, 8), 0.2))
    fixed = _vae(likelihood="gaussian")
    assert not fixed.log_std.requires_grad


def test_iwae_slices_equal_the_unsliced_bound_and_bound_decoder_inputs(monkeypatch) -> None:
    """The memory-bounded IWAE (slices of examples × chunks of samples, running logsumexp)
    equals iwae_bound over all K log-weights, and never gives the decoder more than
    `iwae_batch` inputs. Rules out a budget that is ignored (a forward of K × B inputs,
    what killed vae_mnist at 24 GiB), a wrong running logsumexp (a max, or a mean of
    per-chunk bounds) and a missing or doubled log K."""
    import genlab.models.vae as vae_module

    torch.manual_seed(3)
    model = _vae(iwae_batch=48)
    sizes: list[int] = []
    model.decoder.register_forward_hook(lambda m, args, out: sizes.append(len(args[0])))
    x = torch.bernoulli(torch.rand(100, 1, 8, 8))
    k = 37
    sliced = model.iwae_log_likelihood(x, k)
    assert max(sizes) <= 48 and sum(sizes) == k * len(x)
    # one chunk (budget ≥ K·B) draws the noise exactly as iwae_bound's reference does
    model.hparams.iwae_batch = k * len(x)
    torch.manual_seed(0)
    whole = model.iwae_log_likelihood(x, k)
    torch.manual_seed(0)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        z = reparameterize(mu.expand(k, *mu.shape), logvar.expand(k, *logvar.shape))
        out = model.decoder(z.flatten(0, 1))
        log_px = model.log_likelihood(out, x.expand(k, *x.shape).flatten(0, 1)).view(k, -1)
        log_w = log_px + log_standard_normal(z) - log_normal_diag(z, mu, logvar)
    assert torch.allclose(whole, iwae_bound(log_w), atol=1e-5)
    # sliced vs whole: the same estimator with other noise, equal within Monte-Carlo error
    assert abs(float(sliced.mean() - whole.mean())) < 0.3
    # with z fixed per example every log-weight is the same, so any K and any slicing must
    # give exactly that log-weight (a mean of chunk bounds or a missing log K would not)
    monkeypatch.setattr(vae_module, "reparameterize",
                        lambda mu, logvar: mu + 0.5 * torch.exp(0.5 * logvar))
    model.hparams.iwae_batch = 9
    small = model.iwae_log_likelihood(x, 50)
    model.hparams.iwae_batch = 100_000
    one = model.iwae_log_likelihood(x, 1)
    assert torch.allclose(small, one, atol=1e-4)


def test_iwae_bound_of_chunks_equals_the_bound_of_all_log_weights() -> None:
    """The streamed form the VAE's test uses (chunks of the K log-weights): rules out a
    running logsumexp normalised by the chunk count or by the last chunk's size instead of
    K, and one that drops a chunk."""
    log_w = torch.randn(10, 4) * 5
    whole = iwae_bound(log_w)
    for sizes in ([10], [3, 3, 3, 1], [1] * 10, [7, 3]):
        assert torch.allclose(iwae_bound(iter(log_w.split(sizes))), whole, atol=1e-6), sizes
