"""Which process this is in a distributed run, and which rank a failed collective lost."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from genlab.errors import GenlabError
from genlab.run_dir import last_checkpoint


def is_rank_zero() -> bool:
    """True in the process that writes files (before Lightning has set up its ranks too)."""
    return all(os.environ.get(v, "0") == "0" for v in ("RANK", "LOCAL_RANK", "SLURM_PROCID"))


def lost_rank(err: BaseException, callbacks: list, output_dir: Path) -> GenlabError | None:
    """The RankLostError naming the rank behind a failed collective, or None."""
    from genlab.callbacks.rank_table import RankTable

    table = next((c for c in callbacks if isinstance(c, RankTable)), None)
    if table is None:
        return None
    return table.lost_rank_error(err, last_checkpoint(output_dir), output_dir.name)


@contextlib.contextmanager
def rank_loss_named(callbacks: list, output_dir: Path) -> Iterator[None]:
    """Re-raise a failed collective as the RankLostError naming the rank that was lost."""
    try:
        yield
    except BaseException as err:
        lost = lost_rank(err, callbacks, output_dir)
        if lost is not None:
            raise lost from err
        raise
