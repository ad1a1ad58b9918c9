"""Checkpoint writes that a kill cannot truncate.

Lightning's TorchCheckpointIO writes straight to the target path, so a SIGKILL (OOM,
preemption past the grace period) during the write leaves a truncated `last.ckpt` that
the next `resume=auto` would fail on. Here the bytes go to a temporary file in the same
directory, are fsynced, and replace the target with os.replace (atomic on POSIX): a reader
sees the old checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path,
                        storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
