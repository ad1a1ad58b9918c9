"""channels_last and torch.compile options: same results, fallback when compile fails."""

import warnings
from types import SimpleNamespace

import pytest
import torch

from genlab.callbacks.performance import (
    PerformanceOptions,
    compile_with_fallback,
    use_channels_last,
)
from genlab.nets.conv import ConvDecoder


def _failing_backend(gm, example_inputs):
    raise RuntimeError("no compiler here")


def test_compile_failure_falls_back_to_eager_with_a_warning() -> None:
    torch.manual_seed(0)
    net = ConvDecoder(latent_dim=4, out_shape=(1, 8, 8), channels=[8])
    z = torch.randn(3, 4)
    expected = net(z)
    keys = list(net.state_dict())
    compile_with_fallback(net, "decoder", _failing_backend, None)
    with pytest.warns(UserWarning, match="running eager"):
        out = net(z)
    assert torch.equal(out, expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once; eager from now on
        assert torch.equal(net(z), expected)
    assert list(net.state_dict()) == keys  # checkpoints keep their keys


def test_channels_last_keeps_outputs(compose_cfg) -> None:
    from genlab.config.instantiate import instantiate

    cfg = compose_cfg("model=conv_vae")
    model = instantiate(cfg.model, data_shape=[1, 8, 8], num_classes=10, _recursive_=False,
                        _convert_="all")
    x = torch.rand(4, 1, 8, 8)
    before = model.reconstruct(x)
    PerformanceOptions(channels_last=True).setup(None, model, "fit")
    conv = model.encoder.features[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(model.reconstruct(x), before, atol=1e-5)


def _trainer_on(device: str) -> SimpleNamespace:
    return SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device(device)))


def test_channels_last_auto_is_on_for_conv_models_on_the_cpu_only(compose_cfg) -> None:
    """`auto` (the default) makes a conv model NHWC on the CPU; an MLP model, a GPU run and
    `false` keep the layout, `true` forces it. Rules out `auto` read as a truthy string
    (NHWC everywhere, GPU included) and a conv check that misses the decoder-only nets."""
    from genlab.config.instantiate import instantiate

    def model(*overrides: str):
        cfg = compose_cfg(*overrides)
        return instantiate(cfg.model, data_shape=[1, 8, 8], num_classes=10, _recursive_=False,
                           _convert_="all")

    conv_vae, mlp_vae = model("model=conv_vae"), model("model=vae")
    assert compose_cfg().callbacks.performance.channels_last == "auto"
    assert use_channels_last("auto", _trainer_on("cpu"), conv_vae)
    assert not use_channels_last("auto", _trainer_on("cpu"), mlp_vae)
    assert not use_channels_last("auto", _trainer_on("cuda"), conv_vae)
    assert not use_channels_last(False, _trainer_on("cpu"), conv_vae)
    assert use_channels_last(True, _trainer_on("cuda"), conv_vae)
    gan = model("model=dcgan")
    assert use_channels_last("auto", _trainer_on("cpu"), gan)
    PerformanceOptions().setup(_trainer_on("cpu"), gan, "fit")
    assert gan.generator.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="true, false or auto"):
        PerformanceOptions(channels_last="yes")
