"""The generator EMA's BatchNorm buffers (models/gan/module.py, `ema_decay`): averaged like its
weights, after every G step, from the raw generator's running statistics."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch

from genlab.cli.train import run


def _bn_buffers(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: buf.detach().clone() for name, buf in module.named_buffers()
            if name.endswith(("running_mean", "running_var"))}


class EMABufferProbe(L.Callback):
    """After each training batch: the raw generator's and its EMA's BatchNorm statistics."""

    raw: list[dict[str, torch.Tensor]] = []
    ema: list[dict[str, torch.Tensor]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        EMABufferProbe.raw.append(_bn_buffers(pl_module.generator))
        EMABufferProbe.ema.append(_bn_buffers(pl_module.generator_ema.module))


def test_ema_batchnorm_statistics_are_the_ema_of_the_generators(compose_cfg, tmp_path: Path,
                                                                 one_thread) -> None:
    """With ema_decay = d and a G step every batch, the EMA's BatchNorm running mean and
    variance after batch k are d · (after batch k − 1) + (1 − d) · the raw generator's
    after batch k (the first update copies them). Rules out buffers that are not averaged
    (AveragedModel's use_buffers=False keeps the initial 0 / 1 statistics for ever),
    buffers copied from the raw generator at each update, and an update made before the
    G step or only once per epoch."""
    EMABufferProbe.raw, EMABufferProbe.ema = [], []
    decay = 0.6
    run(compose_cfg("experiment=dcgan_digits", "trainer.max_epochs=1",
                    "+trainer.limit_train_batches=4", "model.d_steps=1",
                    f"model.ema_decay={decay}", "optimized_metric=null",
                    "+callbacks.ema_probe._target_=test_gan_ema_buffers.EMABufferProbe"))
    raw, ema = EMABufferProbe.raw, EMABufferProbe.ema
    assert len(raw) == 4 and raw[0]  # the generator has BatchNorm statistics to average
    for name in raw[0]:
        assert torch.allclose(ema[0][name], raw[0][name])
        for k in range(1, 4):
            expected = decay * ema[k - 1][name] + (1 - decay) * raw[k][name]
            assert torch.allclose(ema[k][name], expected, atol=1e-6), (name, k)
        assert not torch.allclose(ema[3][name], raw[3][name])  # averaged, not copied
