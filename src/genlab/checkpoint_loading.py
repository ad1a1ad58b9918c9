"""Load checkpoints safely: always `weights_only=True`, with one clear error per failure.

A checkpoint from a colleague can carry a pickled payload that runs code when unpickled;
`weights_only=True` refuses it without executing anything. genlab's own checkpoints hold
plain data only (DESIGN.md), so they always load this way.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

from genlab.errors import CheckpointError


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> dict[str, Any]:
    """torch.load(path, weights_only=True), raising CheckpointError on any failure."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {path} does not exist; check `ckpt_path`.")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"Checkpoint {path} holds objects other than tensors and plain data, so it was "
            "refused unread (loading it could run arbitrary code). Only load checkpoints "
            f"from sources you trust; genlab's own checkpoints never need this. ({err!s:.200})"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as err:
        raise CheckpointError(
            f"Checkpoint {path} is truncated or corrupted and cannot be read ({err!s:.200}). "
            "Use an earlier checkpoint of the run (checkpoints/last.ckpt or best-*.ckpt)."
        ) from None
