"""genlab/callbacks/rank_table.py: the error a surviving rank raises when a collective loses
its peer names the lost rank, its host and how to continue (the SLURM tier kills real ranks
on two nodes: tests/test_slurm_two_nodes.py). Rules out naming the rank that reports (the
address of a host with several ranks), turning unrelated errors into lost ranks, and a
timeout that blames nobody."""

from __future__ import annotations

from genlab.callbacks.rank_table import RankTable
from genlab.errors import RankLostError

GLOO_RESET = ("[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:545] Read "
              "error [10.213.77.12]:49323: Connection reset by peer. This is typically caused "
              "by a remote worker hanging or bugs in the application.")


def table(rank: int, hosts: list[tuple[str, str]]) -> RankTable:
    ranks = RankTable()
    ranks.ranks = [{"rank": r, "node": r, "host": h, "addr": a, "pid": 100 + r}
                   for r, (h, a) in enumerate(hosts)]
    ranks.rank = rank
    return ranks


TWO_NODES = [("genlab-n1", "10.213.77.11"), ("genlab-n2", "10.213.77.12")]


def test_a_reset_by_the_peer_names_its_rank_and_how_to_continue() -> None:
    err = table(0, TWO_NODES).lost_rank_error(RuntimeError(GLOO_RESET), "/run/last.ckpt",
                                              "slurm-13")
    assert isinstance(err, RankLostError) and [r["rank"] for r in err.lost] == [1]
    assert str(err).startswith("Distributed run: rank 1 (host genlab-n2, 10.213.77.12, pid "
                               "101) of 2 was lost (Read error [10.213.77.12]:49323: "
                               "Connection reset by peer). ")
    assert "newest checkpoint /run/last.ckpt" in str(err)
    assert "run_id=slurm-13 resume=auto" in str(err)


def test_on_one_host_the_lost_rank_is_another_than_the_reporter() -> None:
    one_host = [("vm", "127.0.0.1")] * 2
    err = table(1, one_host).lost_rank_error(
        RuntimeError(GLOO_RESET.replace("10.213.77.12", "127.0.0.1")), None, "two")
    assert [r["rank"] for r in err.lost] == [0] and "no checkpoint yet" in str(err)


def test_a_timeout_names_every_other_rank() -> None:
    three = [*TWO_NODES, ("genlab-n3", "10.213.77.13")]
    err = table(1, three).lost_rank_error(
        RuntimeError("[gloo/transport/tcp/unbound_buffer.cc:81] Timed out waiting 300000ms "
                     "for recv operation to complete"), None, "x")
    assert [r["rank"] for r in err.lost] == [0, 2]
    assert "one of rank 0 (host genlab-n1" in str(err) and "(of 3) stopped answering" in str(err)


def test_other_errors_are_left_alone() -> None:
    ranks = table(0, TWO_NODES)
    for err in (ValueError(GLOO_RESET), RuntimeError("CUDA out of memory"),
                RuntimeError("gloo: unexpected tensor size")):
        assert ranks.lost_rank_error(err, None, "x") is None
    assert RankTable().lost_rank_error(RuntimeError(GLOO_RESET), None, "x") is None  # 1 rank
