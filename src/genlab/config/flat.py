"""A nested plain config as dotted keys: {"model": {"latent_dim": 2}} → {"model.latent_dim": 2}.
Torch-free; used to compare runs' configs (genlab-compare, child runs)."""

from __future__ import annotations

from typing import Any


def dotted(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(dotted(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: node}
