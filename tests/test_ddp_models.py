"""Every model trains under trainer=ddp_cpu (2 gloo ranks, `genlab-train` as a user runs
it) as one process does at the same global batch.

Two ranks cannot repeat a one-process run step for step: the DistributedSampler orders
the data otherwise than one process's sampler, each rank draws dropout masks and the VAE's
ε from its own RNG, and BatchNorm normalises each rank's half of the batch on its own (no
SyncBatchNorm on CPU). So each test records the 2-rank run from the inside
(tests/ddp_probe.py) and replays its first STEPS batches in one process: the same model
from the same initial state, fed the concatenation of both ranks' batches (a global batch
of 2 × the per-rank batch), each batch from the RNG state the ranks had when it started
(the same on both: asserted), with each rank's share of a net's forward (and of the VAE's
ε) computed on its own from that state, which is what DDP means by a step. Everything else
(the losses, their means over the batch, the optimiser steps) is the module's own code in
one process. The optimisers are SGD (momentum 0.9), whose update is linear in the
gradient, so a wrongly scaled gradient shows (Adam would hide a factor of 2). Checks, after
each batch:

- both ranks hold bitwise the same parameters and gradients: rules out a player whose
  gradients are never all-reduced (each rank would step on its own half);
- they equal the replay's to TOL: rules out gradients summed instead of averaged, a step
  that applies stale gradients (e.g. G's backward leaving gradients in D that a later D
  step or all-reduce picks up), and GAN ranks that share their noise (the replay gives
  rank 1 the second half of the global batch's noise);
- the number of gradient elements all-reduced during the batch (DDP reducer and
  torch.distributed.all_reduce together) is exactly the parameter count of each player
  that stepped, once: rules out an all-reduce done twice (the average of equal values
  changes nothing, so only the count shows it) or one of the idle player.

Measured: the largest difference to the replay over all models is 4.5e-8 (GANs; float
rounding of a mean over 2B examples vs the mean of two means over B; 0 for the classifier
and the VAEs), TOL = 1e-6. Implementations with the bugs above, tried on the DCGAN case,
fail at the first batch: gradients never all-reduced (ranks 1.2e-4 apart), summed
(3.0e-4 off the replay), shared noise (4.6e-5 off), all-reduced twice or all parameters
all-reduced at each step (the count, or D's gradients after G's step).
"""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader

import genlab.models.vae as vae_module
from conftest import run_cli
from ddp_probe import StepProbe

pytestmark = pytest.mark.slow

WORLD, STEPS = 2, 3
TOL = 1e-6  # absolute, on parameters and gradients (|values| ≲ 1)
TESTS_DIR = Path(__file__).parent

# tiny runs of STEPS training batches; a case adds what it evaluates
COMMON = [
    "logger=none", "optimized_metric=null", "seed=7", "trainer.accelerator=cpu",
    "trainer.max_epochs=1", f"+trainer.limit_train_batches={STEPS}",
    "+trainer.num_sanity_val_steps=0", "+trainer.enable_checkpointing=false",
    "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
]
NO_EVAL = ["callbacks=none", "metrics=none", "test=false", "+trainer.limit_val_batches=0"]
SGD_GAN = ["model/optimizer@model.optimizer_g=sgd", "model/optimizer@model.optimizer_d=sgd"]
DIGITS_GAN = ["data.batch_size=16", "model.generator.base_channels=8",
              "model.discriminator.base_channels=8", *SGD_GAN]
# the toy GAN validates once: mode coverage on both ranks' points
TOY_GAN = ["experiment=gan_ring8", "callbacks=none", "metrics=none", "test=false",
           "+trainer.limit_val_batches=1", "data.batch_size=64", "data.train_size=512",
           "data.val_size=1000", "model.generator.hidden_dims=[16,16]",
           "model.discriminator.hidden_dims=[16,16]", *SGD_GAN, "model.optimizer_g.lr=0.05",
           "model.optimizer_d.lr=0.05"]
# the cGAN (projection) also validates and tests with a tiny metric suite, with sample
# and class grids (test_cgan_metric_suite_and_grids_under_ddp)
SUITE = ["metrics=default", "metrics.n_samples=200", "metrics.batch_size=100",
         "metrics.kid_subset_size=50", "metrics.features.max_epochs=1"]
GRIDS = ["callbacks=none", "+callbacks.samples._target_=genlab.callbacks.grids.SampleGrid",
         "+callbacks.samples.every_n_epochs=1",
         "+callbacks.class_grid._target_=genlab.callbacks.gan_plots.ClassGrid",
         "+callbacks.class_grid.every_n_epochs=1"]
VAE = [*NO_EVAL, "data=digits", "data.batch_size=16", "model.latent_dim=4",
       "model.binarize=false", "model.iwae_samples=0", "model/optimizer=sgd"]

# per-rank batch sizes: 16 (digits), 64 (ring8). What each case adds: DCGAN with
# d_steps=2 (batch 0 steps D only, batch 1 D then G, batch 2 D right after G's step: an
# idle G must not be all-reduced, G's step must leave D nothing to apply); the cGANs pair
# each rank's noise with its own labels and train label embeddings in both players; the
# toy GANs pack per rank (pack=2) and sync their mode coverage; the classifier (BatchNorm,
# dropout) and the VAEs (ε) run under Lightning's own reducer (automatic optimisation).
CASES = {
    "dcgan": ["experiment=dcgan_digits", *NO_EVAL, *DIGITS_GAN, "model.d_steps=2"],
    "cgan_concat": ["experiment=cgan_digits", *NO_EVAL, *DIGITS_GAN,
                    "model.conditioning=concat"],
    "cgan_projection": ["experiment=cgan_digits", *SUITE, *GRIDS, "test=true",
                        "+trainer.limit_val_batches=1", *DIGITS_GAN,
                        "model.conditioning=projection"],
    # pack=1 also draws the toy scatter: validation points gathered from both ranks
    "toy_gan_pack1": [*TOY_GAN, "model.pack=1",
                      "+callbacks.scatter._target_=genlab.callbacks.gan_plots.ToyScatter",
                      "+callbacks.scatter.every_n_epochs=1", "+callbacks.scatter.n=1000"],
    "toy_gan_pack2": [*TOY_GAN, "model.pack=2"],
    "classifier": ["experiment=classifier_digits", *NO_EVAL, "data.batch_size=16",
                   "model.net.channels=[4,8]", "model/optimizer=sgd"],
    "vae_mlp": [*VAE, "model=vae", "model.encoder.hidden_dims=[32]",
                "model.decoder.hidden_dims=[32]"],
    "vae_conv": [*VAE, "model=conv_vae", "model.encoder.channels=[4,8]",
                 "model.decoder.channels=[4,8]"],
}


def train_two_ranks(case: str, root: Path) -> tuple[list[dict], Path]:
    """The 2-rank CLI run of `case`; → each rank's probe record and the run dir."""
    probe = root / "probe"
    done = run_cli(*COMMON, *CASES[case], "trainer=ddp_cpu", "run_id=two",
                   "+callbacks.probe._target_=ddp_probe.StepProbe",
                   f"+callbacks.probe.path={probe}", f"+callbacks.probe.steps={STEPS}",
                   cwd=root, env={"PYTHONPATH": str(TESTS_DIR), "OMP_NUM_THREADS": "1",
                                  "GENLAB_CACHE": str(root / "cache")})
    assert done.returncode == 0, done.stderr[-3000:]
    records = [torch.load(probe / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    return records, root / "logs/train/runs/two"


@pytest.fixture(scope="module")
def two_rank_runs(tmp_path_factory):
    """case → (records, run dir), each 2-rank run made once per module."""
    runs: dict[str, tuple[list[dict], Path]] = {}

    def get(case: str):
        if case not in runs:
            runs[case] = train_two_ranks(case, tmp_path_factory.mktemp(case))
        return runs[case]

    return get


# --- the one-process replay ---------------------------------------------------------------
def per_rank(fn):
    """fn on each rank's share of the batch (dim 0 in WORLD equal parts), each share from
    the RNG state at the call, as every rank draws from the same state: BatchNorm batch
    statistics, dropout masks and ε per rank, as under DDP."""

    def each_rank(*args):
        state, out = torch.get_rng_state(), []
        for share in zip(*(a.chunk(WORLD) for a in args), strict=True):
            torch.set_rng_state(state)
            out.append(fn(*share))
        return torch.cat(out)

    return each_rank


def concat_ranks(batches: list[list[torch.Tensor]]) -> list[torch.Tensor]:
    return [torch.cat(parts) for parts in zip(*batches, strict=True)]


class Replayed(L.LightningDataModule):
    """The 2-rank run's batches, concatenated over the ranks, in its order; the real data
    module's mode centres where it has them (the toy GAN's coverage metrics)."""

    def __init__(self, records: list[dict], real: L.LightningDataModule) -> None:
        super().__init__()
        self.train = [concat_ranks([r["batches"][k] for r in records]) for k in range(STEPS)]
        self.val = [concat_ranks([r["val_batches"][k] for r in records])
                    for k in range(len(records[0]["val_batches"]))]
        for name in ("mode_centers", "mode_std"):
            if hasattr(real, name):
                setattr(self, name, getattr(real, name))

    def train_dataloader(self):
        return DataLoader(self.train, batch_size=None)

    def val_dataloader(self):
        return DataLoader(self.val, batch_size=None)


class RankRNG(L.Callback):
    """Each batch (and validation) starts from the RNG state the ranks had there."""

    def __init__(self, record: dict) -> None:
        self.record = record

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        torch.set_rng_state(self.record["rng"][batch_idx])

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        if self.record["val_rng"]:
            torch.set_rng_state(self.record["val_rng"][0])


def replay_one_process(compose_cfg, monkeypatch, overrides: list[str], records: list[dict],
                       out: Path) -> tuple[dict, dict]:
    """The run of `overrides` that the 2 ranks of `records` made, replayed in one process
    → the replay's probe record and its final metrics."""
    cfg = compose_cfg(*overrides)
    real = instantiate(cfg.data)
    model = instantiate(cfg.model, data_shape=list(real.shape), num_classes=real.num_classes,
                        _recursive_=False, _convert_="all")
    model.load_state_dict(records[0]["initial"])
    for net in model.children():  # the nets: generator/discriminator, encoder/decoder, net
        net.forward = per_rank(net.forward)
    monkeypatch.setattr(vae_module, "reparameterize", per_rank(vae_module.reparameterize))
    data = Replayed(records, real)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=1, limit_train_batches=STEPS,
                        limit_val_batches=len(data.val), num_sanity_val_steps=0, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False,
                        callbacks=[RankRNG(records[0]), StepProbe(str(out), STEPS)])
    trainer.fit(model, datamodule=data)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    return torch.load(out / "rank0.pt", weights_only=True), metrics


def player_sizes(record: dict, case: str) -> list[int]:
    """Gradient elements one process would all-reduce in each recorded batch: each player
    that steps, once (automatic optimisation: every trainable parameter, once)."""
    sizes = {n: p.numel() for n, p in record["initial"].items()}
    params = record["trainable"]  # (the VAE's fixed log_std is not reduced)
    if "gan" not in case:
        return [sum(sizes[n] for n in params)] * STEPS
    d = sum(sizes[n] for n in params if n.startswith("discriminator."))
    g = sum(sizes[n] for n in params if n.startswith("generator."))
    d_steps = 2 if case == "dcgan" else 1
    return [d + (g if (k + 1) % d_steps == 0 else 0) for k in range(STEPS)]


def assert_same(got: list, want: list, names: list[str], what: str, tol: float) -> float:
    """→ the largest absolute difference (None gradients must match None)."""
    worst = 0.0
    for name, a, b in zip(names, got, want, strict=True):
        assert (a is None) == (b is None), f"{what} {name}: one is None"
        if a is not None:
            diff = float((a - b).abs().max())
            assert diff <= tol, f"{what} {name}: differs by {diff:.2e} (> {tol:.0e})"
            worst = max(worst, diff)
    return worst


@pytest.mark.parametrize("case", list(CASES))
def test_two_ranks_train_like_one_process(case: str, two_rank_runs, compose_cfg, monkeypatch,
                                          tmp_path: Path) -> None:
    """2 ranks at per-rank batch B = one process at 2B, batch by batch (the checks and the
    wrong implementations each rules out: module docstring)."""
    records, run_dir = two_rank_runs(case)
    zero, one = records
    names = zero["names"]
    # the ranks start every batch from the same RNG state and hold the same model
    for a, b in zip(zero["rng"], one["rng"], strict=True):
        assert torch.equal(a, b)
    for k in range(STEPS):
        assert_same(one["params"][k], zero["params"][k], names, f"rank 1 step {k}", 0.0)
        assert_same(one["grads"][k], zero["grads"][k], names, f"rank 1 grad {k}", 0.0)
    # ranks held different data (else averaging would be untested)
    assert not torch.equal(zero["batches"][0][0], one["batches"][0][0])

    ref, ref_metrics = replay_one_process(compose_cfg, monkeypatch, [*COMMON, *CASES[case]],
                                          records, tmp_path / "replay")
    worst = 0.0
    for k in range(STEPS):
        worst = max(worst, assert_same(zero["params"][k], ref["params"][k], names,
                                       f"step {k}", TOL),
                    assert_same(zero["grads"][k], ref["grads"][k], names, f"grad {k}", TOL))
    print(f"{case}: largest difference to the one-process replay {worst:.1e}")
    assert zero["allreduced"] == player_sizes(zero, case)

    if "toy_gan" in case:
        # mode coverage (and D's means) over both ranks' validation points and noise: the
        # one-process values on the same 1,000 points and the same global noise
        two = json.loads((run_dir / "metrics.json").read_text())["metrics"]
        for key in ("val/modes", "val/hq_ratio", "val/reverse_kl", "val/d_real", "val/d_fake"):
            assert two[key] == pytest.approx(ref_metrics[key], rel=1e-5, abs=1e-6), key
    if case == "toy_gan_pack1":
        assert [p.name for p in (run_dir / "images").iterdir()] == ["toy_scatter_epoch000.png"]


def test_cgan_metric_suite_and_grids_under_ddp(two_rank_runs) -> None:
    """The metric suite of the 2-rank cGAN at test equals one process's on the same trained
    model (rank 0's, which the checkpoint holds): each rank generates its chunks of samples
    with rank 0's BatchNorm statistics and the noise one process uses. Rules out `sample`
    drawing a rank's slice of the noise, and ranks evaluating their own running statistics
    (Lightning's DDP forward broadcasts buffers only under automatic optimisation). The
    run writes its sample and class grids (rank 0 only: grids.py and gan_plots.py check
    `trainer.is_global_zero`)."""
    (rank0, rank1), run_dir = two_rank_runs("cgan_projection")
    root = run_dir.parents[3]
    final = torch.load(root / "probe" / "final.ckpt", weights_only=True)["state_dict"]
    for stage in ("val", "test"):  # every rank evaluates rank 0's buffers: the checkpoint's
        for name, buffer in rank0[f"{stage}_buffers"].items():
            assert torch.equal(rank1[f"{stage}_buffers"][name], buffer), (stage, name)
            if stage == "test" and name in final:
                assert torch.equal(final[name], buffer), name
    done = run_cli(*COMMON, *CASES["cgan_projection"], "trainer=cpu", "run_id=one",
                   "train=false", f"ckpt_path={root / 'probe' / 'final.ckpt'}", cwd=root,
                   env={"OMP_NUM_THREADS": "1", "GENLAB_CACHE": str(root / "cache")})
    assert done.returncode == 0, done.stderr[-3000:]
    two, one = (json.loads((run_dir.parent / n / "metrics.json").read_text())["metrics"]
                for n in ("two", "one"))
    # FID and class accuracy do not depend on the order of the gathered features (KID's
    # seeded subsets do, and the suite shards the reference features rank::world)
    assert one["test/fid_classifier"] > 0
    assert two["test/fid_classifier"] == pytest.approx(one["test/fid_classifier"], rel=1e-7)
    assert two["test/class_acc"] == pytest.approx(one["test/class_acc"], abs=1e-6)
    images = sorted(p.name for p in (run_dir / "images").iterdir())
    assert images == ["class_grid_epoch000.png", "samples_epoch000.png"]
