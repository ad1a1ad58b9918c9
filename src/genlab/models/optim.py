"""Optimisers and schedulers from `_partial_` config dicts.

The dicts stay in the checkpoint's hyper-parameters as plain data; they become objects
only here, when Lightning asks for them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from hydra.utils import instantiate


def build_optimizer(params: Iterable[torch.nn.Parameter], optimizer: dict) -> torch.optim.Optimizer:
    """`optimizer` = {_target_: torch.optim.Adam, _partial_: true, lr: ...}."""
    return instantiate(optimizer)(params)


def build_scheduler(opt: torch.optim.Optimizer, scheduler: dict | None) -> dict[str, Any] | None:
    """`scheduler` = {_target_: ..., _partial_: true, interval: epoch|step, ...} or None →
    a Lightning lr-scheduler dict."""
    if not scheduler:
        return None
    cfg = dict(scheduler)
    interval = cfg.pop("interval", "epoch")
    monitor = cfg.pop("monitor", None)
    out: dict[str, Any] = {"scheduler": instantiate(cfg)(opt), "interval": interval}
    if monitor:
        out["monitor"] = monitor
    return out
