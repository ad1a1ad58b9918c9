"""Which process is which in a distributed run: every rank's host, address and pid,
gathered once when the process group is up and written to the run's log, so that a rank
that disappears can be named.

A collective whose peer died fails on the surviving ranks with gloo's "Read error
[10.213.77.12]:63694: Connection reset by peer" (NCCL: its own wording), which names an
address, not a rank; `lost_rank_error` turns it into a `RankLostError` that names the rank,
its host and how to continue. A peer that hangs instead of dying surfaces when the
strategy's collective timeout (trainer.strategy.timeout; trainer=ddp_cpu: 5 min) expires.
"""

from __future__ import annotations

import logging
import os
import re
import socket

import lightning as L
import torch.distributed as dist

from genlab.errors import RankLostError

log = logging.getLogger(__name__)
# gloo: "Read error [10.213.77.12]:63694: Connection reset by peer", "Connection closed by
# peer [10.213.77.12]:63694"; the bracketed address is the peer's
PEER = re.compile(r"\[([0-9A-Fa-f.:]+)\]:\d+")


def _address(host: str) -> str:
    """The address other ranks reach this host at (what gloo binds: the hostname's)."""
    try:
        return socket.gethostbyname(host)
    except OSError:
        return "?"


class RankTable(L.Callback):
    def __init__(self) -> None:
        self.ranks: list[dict] = []
        self.rank = 0

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.ranks or trainer.world_size < 2 or not dist.is_initialized():
            return
        host = socket.gethostname()
        me = {"rank": trainer.global_rank, "node": trainer.node_rank, "host": host,
              "addr": _address(host), "pid": os.getpid()}
        table: list = [None] * trainer.world_size
        dist.all_gather_object(table, me)
        self.ranks, self.rank = table, me["rank"]
        log.info("rank %d of %d on host %s (%s), node %d, pid %d", me["rank"],
                 trainer.world_size, host, me["addr"], me["node"], me["pid"])

    def lost_rank_error(self, err: BaseException, checkpoint: object,
                        run_name: str) -> RankLostError | None:
        """A RankLostError for `err` when it is a collective that lost its peer, else None;
        `checkpoint` and `run_name` (the run directory's) say how to continue."""
        text = str(err)
        if not self.ranks or not isinstance(err, RuntimeError) or not (
                "gloo" in text or "NCCL" in text or type(err).__name__.startswith("Dist")):
            return None
        found = PEER.search(text)
        lost = [r for r in self.ranks if found and r["addr"] == found[1]]
        if not lost and "timed out" not in text.lower():
            return None
        # ranks on one host share its address: the peer is one of the others there (and
        # after a timeout, one of all the others)
        lost = [r for r in lost or self.ranks if r["rank"] != self.rank]
        return RankLostError(lost, len(self.ranks), _reason(text), checkpoint, run_name)


def _reason(text: str) -> str:
    """gloo's message without its source location and advice: "Read error
    [10.213.77.12]:49323: Connection reset by peer"."""
    first = re.sub(r"^\[[^\]]*\.(cc|cpp):\d+\] ", "", text.strip().splitlines()[0])
    return first.split(". This is typically")[0][:300]
