"""A GAN's two players under data parallelism (DDP, e.g. trainer=ddp_cpu).

Lightning wraps the whole module in one DistributedDataParallel whose reducer expects a
gradient for every parameter, G's and D's, in every backward; each GAN backward reaches one
player only, so the reducer never finishes ("parameters that were not used in producing the
loss"). The ways out, and why this one:
  - find_unused_parameters=True (trainer-wide): each backward walks the graph and
    all-reduces both players' buckets, the other player's as zeros: twice the gradient
    traffic, and a cost for every model on that trainer config. Not free: on 2 gloo CPU
    ranks, CPU time per batch +13 % (DCGAN digits), +4 % (DCGAN 32×32), +7 % (toy GAN),
    +5 % for the VAE, which needs no such flag; wall time equal within the ±10 % noise of
    a shared machine (medians of 4 interleaved fits each);
  - one DDP wrapper per player (StudioGAN's way): Lightning has already wrapped the module,
    so it would take a GAN-only strategy in the trainer config;
  - here (`player_step`): each player's backward runs under the wrapper's `no_sync`
    (Lightning then skips `prepare_for_backward` and the reducer stays idle), then ONE
    all-reduce of that player's flattened gradients, divided by the world size, before its
    optimiser step. G's step runs with D's parameters toggled off (`toggled_optimizer`), so
    it leaves no gradient in D; D's gradients are zeroed before each D backward in any
    case. One process: no DDP wrapper, nothing changes. What it gives up is DDP's overlap
    of bucketed all-reduces with the backward, small for nets of this size.
    tests/test_ddp_models.py checks the steps against a one-process replay and counts what
    is all-reduced.

Noise (`rank_rows`): every rank draws the noise of the whole global batch (its RNG is in
step with the others') and keeps its own rows: ranks use different noise, and N processes
at per-rank batch B use the noise one process draws at batch N·B. `sample` draws as in one
process, so a sample does not depend on the rank that makes it (the metric suite deals
seeded chunks of samples to ranks).

BatchNorm statistics are per rank in training (no SyncBatchNorm on CPU); their running
averages are broadcast from rank 0 before each validation and test epoch
(`broadcast_buffers`), so every rank evaluates the model the checkpoint holds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import lightning as L
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


def average_gradients(params: Sequence[nn.Parameter], group: dist.ProcessGroup | None = None,
                      ) -> None:
    """Replace each gradient by its mean over the ranks of `group`, in one all-reduce of
    the flattened gradients (a missing gradient counts as zeros, so that every rank sends
    the same layout)."""
    world = dist.get_world_size(group)
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    grads = [p.grad for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, group=group)  # a sum: gloo has no ReduceOp.AVG
    flat /= world
    for grad, mean in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
        grad.copy_(mean.view_as(grad))


def player_step(module: L.LightningModule, opt: torch.optim.Optimizer,
                loss: torch.Tensor) -> None:
    """zero_grad, backward, step of one player; under DDP its gradients are averaged over
    the ranks by exactly one all-reduce between backward and step."""
    ddp = module.trainer.strategy.model
    ddp = ddp if isinstance(ddp, DistributedDataParallel) else None
    opt.zero_grad()
    with ddp.no_sync() if ddp is not None else contextlib.nullcontext():
        module.manual_backward(loss)
    if ddp is not None:
        average_gradients([p for group in opt.param_groups for p in group["params"]],
                          ddp.process_group)
    opt.step()


def rank_rows(module: L.LightningModule, n: int, latent_dim: int) -> torch.Tensor:
    """Noise (n, latent_dim) for this rank's n examples of a batch: rows rank·n …
    (rank+1)·n of the global batch's noise."""
    trainer = module._trainer
    world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
    z = torch.randn(world * n, latent_dim, device=module.device)
    return z[rank * n : (rank + 1) * n]


def broadcast_buffers(module: L.LightningModule) -> None:
    """Every rank takes rank 0's buffers (BatchNorm running statistics): Lightning's DDP
    forward broadcasts them only under automatic optimisation."""
    if module._trainer is None or module.trainer.world_size == 1 or not dist.is_initialized():
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src=0)
