"""Outside SLURM, trainer=ddp_cpu (2 gloo processes, genlab-train as a user runs it)
aggregates the test ELBO terms over the same 360 test examples as one process, and the
sample-quality suite over the same generated samples (each chunk of samples has its own
seed, so the samples do not depend on how chunks are split over ranks)."""

from __future__ import annotations

import pytest

from cluster_runs import TINY_RUN, final_metrics
from conftest import run_cli

pytestmark = pytest.mark.slow


def test_ddp_cpu_aggregates_like_one_process(tmp_path) -> None:
    # binarize=false: a fixed binarisation per batch would differ with the batch split
    common = [*(o for o in TINY_RUN if not o.startswith("metrics=")), "train=false",
              "model.iwae_samples=0", "model.binarize=false", "metrics=default",
              "metrics.n_samples=400", "metrics.batch_size=100",
              "metrics.features.max_epochs=2"]
    for trainer, name in (("cpu", "one"), ("ddp_cpu", "two")):
        done = run_cli(f"trainer={trainer}", f"run_id={name}", *common, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
    one, two = (final_metrics(tmp_path / "logs/train/runs" / n) for n in ("one", "two"))
    # KL is closed-form: the same examples give the same mean up to float rounding
    assert two["test/kl"] == pytest.approx(one["test/kl"], rel=1e-5)
    # one Monte-Carlo sample of z per example: equal up to sampling noise
    assert two["test/elbo"] == pytest.approx(one["test/elbo"], rel=2e-2)
    # the metric suite: 400 samples in 4 chunks, 2 per rank, gathered; the same statistics
    # (FID measured equal to the last digit; KID's random subsets to 4e-7 relative)
    assert one["test/fid_classifier"] > 0
    for key in ("test/fid_classifier", "test/kid_classifier"):
        assert two[key] == pytest.approx(one[key], rel=1e-5), key
