"""DCGAN nets, conditioning layers and the conditional GAN's contract."""

import pytest
import torch

from genlab.errors import ConfigError
from genlab.models.gan import GAN
from genlab.nets.dcgan import DCGANDiscriminator, DCGANGenerator

ADAM = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 2e-4}


@pytest.mark.parametrize("size", [8, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes(size: int, channels: int) -> None:
    shape = (channels, size, size)
    g = DCGANGenerator(latent_dim=7, out_shape=shape, base_channels=4)
    d = DCGANDiscriminator(in_shape=shape, base_channels=4)
    x = g(torch.randn(5, 7))
    assert x.shape == (5, *shape) and x.abs().max() <= 1
    assert d(x).shape == (5,)


def test_dcgan_rejects_unsupported_sizes() -> None:
    with pytest.raises(ConfigError, match="28×28"):
        DCGANGenerator(latent_dim=7, out_shape=(1, 28, 28))


def test_dcgan_init_is_normal_002() -> None:
    g = DCGANGenerator(latent_dim=100, out_shape=(3, 64, 64), base_channels=64)
    std = g.net[0].weight.std().item()
    assert 0.018 < std < 0.022


def dcgan(num_classes: int, conditional: bool, conditioning: str = "concat",
          shape=(1, 8, 8)) -> GAN:
    return GAN(list(shape), {"_target_": "genlab.nets.dcgan.DCGANGenerator", "base_channels": 4},
               {"_target_": "genlab.nets.dcgan.DCGANDiscriminator", "base_channels": 4},
               ADAM, ADAM, latent_dim=6, conditional=conditional, conditioning=conditioning,
               embed_dim=3, num_classes=num_classes)


@pytest.mark.parametrize("conditioning", ["concat", "projection"])
def test_labels_change_a_conditional_generator_and_discriminator(conditioning: str) -> None:
    torch.manual_seed(0)
    model = dcgan(10, True, conditioning).eval()
    z = torch.randn(4, 6)
    a, b = torch.zeros(4, dtype=torch.long), torch.full((4,), 7)
    x_a, x_b = model.generate(z, a), model.generate(z, b)
    assert x_a.shape == (4, 1, 8, 8) and x_a.min() >= 0 and x_a.max() <= 1
    assert not torch.allclose(x_a, x_b)
    assert not torch.allclose(model.discriminator_prob(x_a, a), model.discriminator_prob(x_a, b))


def test_conditional_gan_needs_labelled_data() -> None:
    with pytest.raises(ConfigError, match="num_classes = 0"):
        dcgan(0, True)


def test_sample_returns_images_in_unit_range() -> None:
    model = dcgan(0, False, shape=(3, 32, 32)).eval()
    x = model.sample(3)
    assert x.shape == (3, 3, 32, 32) and x.min() >= 0 and x.max() <= 1
    assert torch.allclose(model.to_data(model.to_model(x)), x, atol=1e-6)
