"""Optimisers and schedulers from `_partial_` config dicts.

The dicts stay in the checkpoint's hyper-parameters as plain data; they become objects
only here, when Lightning asks for them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from hydra.utils import instantiate

# keys of a scheduler node that genlab reads itself (Lightning's lr-scheduler dict); the
# others are the scheduler class's own parameters
SCHEDULE_KEYS = ("interval", "frequency", "monitor")


def build_optimizer(params: Iterable[torch.nn.Parameter], optimizer: dict) -> torch.optim.Optimizer:
    """`optimizer` = {_target_: torch.optim.Adam, _partial_: true, lr: ...}."""
    return instantiate(optimizer)(params)


def build_scheduler(opt: torch.optim.Optimizer, scheduler: dict | None) -> dict[str, Any] | None:
    """`scheduler` = {_target_: ..., _partial_: true, interval: epoch|step, ...} or None →
    a Lightning lr-scheduler dict."""
    if not scheduler:
        return None
    cfg = dict(scheduler)
    schedule = {key: cfg.pop(key) for key in SCHEDULE_KEYS if key in cfg}
    out: dict[str, Any] = {"scheduler": instantiate(cfg)(opt), "interval": "epoch", **schedule}
    if not out.get("monitor"):
        out.pop("monitor", None)
    return out
