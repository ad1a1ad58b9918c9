"""Random-number-generator state in every checkpoint, per rank, so a resumed run draws the
same numbers (dynamic binarisation, reparameterisation noise, shuffling) as one that never
stopped.

Lightning checkpoints hold the model, optimisers, schedulers and loop progress but not the
global RNGs. Rank 0 writes the checkpoint, so each rank's state is gathered into it. The
state is stored as tensors and plain data, so checkpoints still load with
`weights_only=True`.
"""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import numpy as np
import torch

KEY = "genlab_rng_states"


def capture() -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached)}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_tuples(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(value: Any) -> Any:
    """random.setstate wants the tuples that a round trip through a checkpoint may make lists."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list | tuple) else value


class RNGState(L.Callback):
    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        mine = capture()
        if trainer.world_size > 1 and torch.distributed.is_initialized():
            states: list[Any] = [None] * trainer.world_size
            torch.distributed.all_gather_object(states, mine)
        else:
            states = [mine]
        checkpoint[KEY] = states

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        states = checkpoint.get(KEY)
        # a checkpoint written with another number of ranks restores what it can
        if states and trainer.global_rank < len(states):
            restore(states[trainer.global_rank])
