"""Standing statistics for the generator EMA (models/standing_stats.py, the GAN's
`ema_batchnorm`): recalibrated BatchNorm buffers are the EMA's own batch statistics."""

from __future__ import annotations

import inspect

import pytest
import torch
from omegaconf import OmegaConf

from genlab.config import schema
from genlab.errors import ConfigError, ParameterError
from genlab.models.gan import GAN
from genlab.models.gan.module import STANDING_SAMPLES

ADAM = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 2e-4}


def _gan(ema_batchnorm: str, conditional: bool = False) -> GAN:
    """A tiny 8×8 DCGAN whose EMA's weights differ from the raw generator's, with the
    averaged BatchNorm statistics of a few updates."""
    torch.manual_seed(0)
    model = GAN([1, 8, 8], {"_target_": "genlab.nets.dcgan.DCGANGenerator", "base_channels": 4},
                {"_target_": "genlab.nets.dcgan.DCGANDiscriminator", "base_channels": 4},
                ADAM, ADAM, latent_dim=6, ema_decay=0.5, ema_batchnorm=ema_batchnorm,
                conditional=conditional, num_classes=10 if conditional else 0, embed_dim=3)
    for _ in range(3):  # "training": move the raw weights and statistics, then average
        with torch.no_grad():
            for p in model.generator.parameters():
                p.add_(0.3 * torch.randn_like(p))
        model.generator.train()
        model._g(torch.randn(32, 6), model.default_labels(32))
        model.generator_ema.update_parameters(model.generator)
    return model.eval()


def _bn_inputs(net: torch.nn.Module, z: torch.Tensor, labels) -> list[torch.Tensor]:
    """The input of each BatchNorm of a copy of `net` run in train mode on z: what the
    layer's batch statistics are computed from."""
    import copy

    net = copy.deepcopy(net).train()
    inputs: list[torch.Tensor] = []
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.register_forward_hook(lambda mod, args, out: inputs.append(args[0].detach()))
    with torch.no_grad():
        net(z, labels) if labels is not None else net(z)
    return inputs


def _bn_stats(net: torch.nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(m.running_mean.clone(), m.running_var.clone()) for m in net.modules()
            if isinstance(m, torch.nn.BatchNorm2d)]


@pytest.mark.parametrize("conditional", [False, True])
def test_recalibrated_statistics_are_the_batch_statistics_of_the_ema(conditional: bool) -> None:
    """Before a validation epoch, ema_batchnorm=recalibrated gives every BatchNorm of the
    EMA the mean and unbiased variance of its input when the EMA itself runs on the fixed
    calibration noise (STANDING_SAMPLES vectors, seed fixed_noise_seed + 3; labels cycling).
    Rules out: recalibrating the raw generator instead (its buffers would change and the
    EMA's would keep the averages), a momentum left at 0.1 (a blend with the averaged
    statistics), a forward in eval mode (statistics unchanged), statistics of the raw
    generator's activations, and leaving the nets in train mode afterwards."""
    model = _gan("recalibrated", conditional)
    ema, raw = model.generator_ema.module, model.generator
    averaged, raw_before = _bn_stats(ema), _bn_stats(raw)
    z = torch.randn(STANDING_SAMPLES, 6, generator=torch.Generator().manual_seed(3))
    expected = [(x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=True))
                for x in _bn_inputs(ema, z, model.default_labels(len(z)))]

    model.on_validation_epoch_start()

    got = _bn_stats(ema)
    assert len(got) == len(expected) > 0
    for (mean, var), (want_mean, want_var), (avg_mean, _) in zip(got, expected, averaged,
                                                                 strict=True):
        assert torch.allclose(mean, want_mean, atol=1e-5)
        assert torch.allclose(var, want_var, rtol=1e-4, atol=1e-6)
        assert not torch.allclose(mean, avg_mean, atol=1e-3)  # they did change
    for (mean, var), (mean0, var0) in zip(_bn_stats(raw), raw_before, strict=True):
        assert torch.equal(mean, mean0) and torch.equal(var, var0)  # the raw G untouched
    assert not ema.training and all(
        m.momentum == 0.1 for m in ema.modules() if isinstance(m, torch.nn.BatchNorm2d))
    # deterministic: a test epoch on the same weights recomputes the same statistics
    model.on_test_epoch_start()
    for (a, b), (c, d) in zip(got, _bn_stats(ema), strict=True):
        assert torch.equal(a, c) and torch.equal(b, d)


def test_averaged_statistics_are_left_as_they_are() -> None:
    """ema_batchnorm=averaged (the option) evaluates with the EMA's averaged buffers.
    Rules out recalibrating whatever the option says."""
    model = _gan("averaged")
    before = _bn_stats(model.generator_ema.module)
    model.on_validation_epoch_start()
    model.on_test_epoch_start()
    for (a, b), (c, d) in zip(before, _bn_stats(model.generator_ema.module), strict=True):
        assert torch.equal(a, c) and torch.equal(b, d)


def test_ema_batchnorm_is_validated(compose_cfg) -> None:
    """An unknown value is refused by the schema (before torch is needed) and by the
    class; the dcgan config declares the key with its default."""
    cfg = compose_cfg("experiment=dcgan_digits", "model.ema_batchnorm=standing", tiny=False)
    with pytest.raises(ConfigError, match="model.ema_batchnorm"):
        schema.validate(OmegaConf.to_container(cfg, resolve=True))
    with pytest.raises(ParameterError, match="ema_batchnorm"):
        _gan("standing")
    default = compose_cfg("experiment=dcgan_digits", tiny=False)
    assert default.model.ema_batchnorm == inspect.signature(GAN).parameters[
        "ema_batchnorm"].default


def test_recalibrated_is_the_default() -> None:
    """The measured better choice (experiments/README.md#ema-batchnorm: lower val and test
    FID on dcgan_digits and dcgan_mnist) is what a GAN gets without the key, in the config
    and in the class. Rules out the measurement leaving the old default (averaged) in
    place in either of them."""
    from hydra import compose, initialize_config_dir

    from genlab.config import config_dir

    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        for model in ("dcgan", "cgan"):
            assert compose("train", [f"model={model}"]).model.ema_batchnorm == "recalibrated"
    assert inspect.signature(GAN).parameters["ema_batchnorm"].default == "recalibrated"
