"""channels_last and torch.compile options: same results, fallback when compile fails."""

import warnings

import pytest
import torch

from genlab.callbacks.performance import PerformanceOptions, compile_with_fallback
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
