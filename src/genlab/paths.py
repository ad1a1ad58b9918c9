"""Checks on the locations from conf/paths, run before any training starts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from genlab.errors import OutputNotWritableError


def ensure_writable(directory: str | Path, key: str) -> Path:
    """Create `directory` if needed and prove it takes a file; raise a clear error if not."""
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".genlab-write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputNotWritableError(
            f"`{key}` = {path} is not writable ({err.strerror or err}). Point `{key}` at a "
            "directory you can write (or set it via the paths config / env variables) and "
            "run again; nothing was trained or written."
        ) from None
    return path
