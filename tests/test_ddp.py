"""Outside SLURM, trainer=ddp_cpu (2 gloo processes) aggregates the test ELBO terms over
the same 360 test examples as one process."""

from __future__ import annotations

import pytest

from cluster_runs import TINY_RUN, final_metrics
from conftest import run_cli

pytestmark = pytest.mark.slow


def test_ddp_cpu_aggregates_like_one_process(tmp_path) -> None:
    # binarize=false: a fixed binarisation per batch would differ with the batch split
    common = [*TINY_RUN, "train=false", "model.iwae_samples=0", "model.binarize=false"]
    for trainer, name in (("cpu", "one"), ("ddp_cpu", "two")):
        done = run_cli(f"trainer={trainer}", f"run_id={name}", *common, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
    one, two = (final_metrics(tmp_path / "logs/train/runs" / n) for n in ("one", "two"))
    # KL is closed-form: the same examples give the same mean up to float rounding
    assert two["test/kl"] == pytest.approx(one["test/kl"], rel=1e-5)
    # one Monte-Carlo sample of z per example: equal up to sampling noise
    assert two["test/elbo"] == pytest.approx(one["test/elbo"], rel=2e-2)
