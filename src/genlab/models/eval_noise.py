"""The noise of an evaluation batch, from a seed of its own.

Validation and test batches draw their noise (a VAE's posterior samples, a GAN's z) from
a seed fixed by the stage and the batch index, with the training RNG forked around them:
the same checkpoint gives the same val/test numbers whether it is tested at the end of
genlab-train (after training moved the global RNG) or by genlab-eval (fresh), and epochs
are compared on common random numbers. The training RNG is left where it was, so runs stay
reproducible step for step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

_STAGE_SEED = {"val": 30_000, "test": 20_000}
_BINARISATION_SEED = 10_000  # a VAE's fixed binarisation of evaluation batches
_offset = 0  # moved_draws: 0 is every run's own draws


def binarisation_generator(device: torch.device, batch_idx: int) -> torch.Generator:
    """The fixed draw that binarises evaluation batch `batch_idx`: the same in every epoch,
    stage and run (a part of the evaluation data, like the split)."""
    return torch.Generator(device=device).manual_seed(_BINARISATION_SEED + _offset + batch_idx)


@contextlib.contextmanager
def moved_draws(offset: int) -> Iterator[None]:
    """Inside: every evaluation draw (the noise and the binarisation) moved by `offset`,
    i.e. another sample of the evaluation's randomness for the same checkpoint; offset 0 is
    the runs' own. experiments/reference_protocol.py measures a metric's noise with it."""
    global _offset
    previous, _offset = _offset, offset
    try:
        yield
    finally:
        _offset = previous


@contextlib.contextmanager
def evaluation_noise(device: torch.device, stage: str, batch_idx: int) -> Iterator[None]:
    """Inside: the global RNG seeded for (`stage`, `batch_idx`), the same seed on every rank
    (as training, where every rank draws from the same seeded state: a 2-rank run's
    validation equals its one-process replay, tests/test_slurm_two_nodes.py); restored
    after. The GAN takes its rank's rows of the global batch's noise (`_noise`); the VAE's ε
    for its half of the batch is drawn as in training."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(_STAGE_SEED.get(stage, 40_000) + _offset + batch_idx)
        yield
