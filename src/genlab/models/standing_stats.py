"""Standing statistics (StudioGAN's name for what BigGAN, Brock et al. 2019, does before
sampling): the BatchNorm running statistics of a net recomputed for its current weights.

An EMA of a generator (torch's AveragedModel with use_buffers=True) averages the raw
generator's running means and variances along with its weights, but an average of
statistics measured under other weights is not the statistics of the averaged weights.
`recalibrate_batchnorm` replaces them by the batch statistics of the net itself on given
inputs: in train mode with momentum None (a cumulative average), so one call of `forward`
leaves every BatchNorm holding exactly the mean and the unbiased variance of its input in
that call.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


@torch.no_grad()
def recalibrate_batchnorm(net: nn.Module, forward: Callable[[], object]) -> None:
    """Reset every BatchNorm of `net` and refill its running statistics from one call of
    `forward()` (which must run `net`) in train mode; `net`'s mode and momenta are restored.
    A net without BatchNorm is left as it is (and `forward` is not called)."""
    norms = [m for m in net.modules() if isinstance(m, BATCHNORMS) and m.track_running_stats]
    if not norms:
        return
    momenta, was_training = [m.momentum for m in norms], net.training
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    net.train()
    try:
        forward()
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        net.train(was_training)
