"""Property: a random value in any key of any config group — data, model, trainer, and
metrics (and its features), callbacks, logger, the optimised metric, the search's keys,
paths, debug, the root keys — either runs to the end or is rejected before torch is
imported: exit 2, one paragraph naming the key, no traceback. Never an exception from
inside torch, Lightning or torchmetrics.

Each draw picks group options and one to four keys with values from a pool per key (valid
ones, boundaries, wrong types), from a seeded RNG: the draws are the same in every run.
The accepted runs are one epoch of at most 2 train / 1 val / 1 test batches (or the drawn
`debug` preset or `trainer.fast_dev_run`) — not fast_dev_run by default, because under
fast_dev_run the metric suite is skipped and its keys would be drawn for nothing.

How it can fail: a rule missing from genlab/config/schema.py for a value that breaks a run (for
example `_check_suite_reference`: `data.val_size=1` with the suite on then dies in
torchmetrics' KID with a ValueError; REGRESSIONS pins such values), or a rule that refuses
only after torch is imported (the rejected command's `-X importtime` shows torch).
"""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from genlab.errors import ConfigError

pytestmark = pytest.mark.slow

SEED, DRAWS = 16, 30
NAN, INF = float("nan"), float("inf")
BIG = 2**32  # one past the largest seed

# (group options) — every run is cut to one short epoch below
COMPOSITIONS = [["data=digits", "model=vae"], ["data=digits", "model=conv_vae"],
                ["data=digits", "model=dcgan"], ["data=digits", "model=cgan"],
                ["data=ring8", "model=toy_gan"]]
GROUPS = {
    "callbacks": ["default", "gan", "checkpoint", "none"],
    "logger": ["csv", "tensorboard", "none"],  # wandb: offline, but its service costs ~5 s
    "metrics": ["default", "none"],
    "debug": [None, None, "fast", "limit", "overfit", "profiler"],
    "model/optimizer": ["adam", "adamw", "sgd"],  # VAEs only
    "model/scheduler": [None, "cosine", "plateau"],  # VAEs only
}
SHORT = ["trainer.accelerator=cpu", "trainer.enable_progress_bar=false",
         "trainer.enable_model_summary=false", "trainer.max_epochs=1",
         "++trainer.limit_train_batches=2", "++trainer.limit_val_batches=1",
         "++trainer.limit_test_batches=1"]
SHORT_VAE = ["model.iwae_samples=2"]
SHORT_SUITE = ["metrics.n_samples=40", "metrics.batch_size=20", "metrics.kid_subsets=5",
               "metrics.features.max_epochs=1"]

COUNT = [-1, 0, 1, 2, 3, 2.5, "x"]
SEEDS = [0, 7, BIG - 1, BIG, -1]
EVERY = [-1, 0, 1, 5, "x"]
# key → values to draw from (valid, boundary, invalid); costly keys keep valid values small
POOLS: dict[str, list] = {
    # the metric suite and its feature extractor
    "metrics.n_samples": [1, 2, 3, 50, 0, None, "many"],
    "metrics.n_reference": [None, 1, 2, 3, 180, 181, 5000, 0, "all"],
    "metrics.batch_size": [1, 7, 500, 0, -1, 2.5],
    "metrics.every_n_epochs": EVERY, "metrics.seed": SEEDS,
    "metrics.kid_subsets": [1, 3, 0, -2], "metrics.kid_subset_size": [1, 2, 3, 10**6, 0],
    "metrics.is_splits": [1, 2, 100, 0], "metrics.prc_neighborhood": [1, 2, 39, 40, 100, 0],
    "metrics.features.max_epochs": [1, 2, 0, -1, "x"],
    "metrics.features.batch_size": [1, 3, 2000, 0], "metrics.features.seed": SEEDS,
    "metrics.features.min_accuracy": [0.0, 0.5, 1.0, 1.5, -0.1, NAN],
    "metrics.features.model.net.channels": [[8], [4, 8], [0], "x"],
    "metrics.features.model.net.dropout": [0.0, 0.5, 0.95, 1.0, -0.1],
    "metrics.features.model.net.hidden_dim": [1, 16, 0],
    "metrics.features.model.net.grid": [1, 2, 8, 0],
    "metrics.features.model.net.feature_grid": [1, 2, 4, 0],
    "metrics.features.model.optimizer.lr": [1e-3, 0.0, -1.0, INF],
    # callbacks
    "callbacks.samples.n": [1, 2, 64, 0, -1], "callbacks.samples.every_n_epochs": EVERY,
    "callbacks.samples.seed": SEEDS, "callbacks.reconstructions.n": [1, 3, 1000, 0],
    "callbacks.interpolation.pairs": [1, 8, 500, 0],
    "callbacks.interpolation.steps": [1, 2, 10, 0],
    "callbacks.latent_space.max_points": [1, 2, 5000, 0],
    "callbacks.nonfinite_guard.every_n_steps": [0, 1, -1],
    "callbacks.performance.compile_mode": [None, "default", "turbo"],
    "callbacks.performance.matmul_precision": [None, "high", "low"],
    "callbacks.performance.channels_last": [True, False, "auto", "yes"],
    "callbacks.model_checkpoint.save_top_k": [-1, 0, 1, 3, -2],
    "callbacks.model_checkpoint.mode": ["min", "max", "best"],
    "callbacks.model_checkpoint.every_n_epochs": [None, 0, 1, -1],
    "callbacks.class_grid.per_class": [1, 8, 64, 65, 0],
    "callbacks.toy_scatter.n": [1, 2500, 0], "callbacks.d_trace.every_n_epochs": EVERY,
    # loggers
    "logger.csv.name": ["csv", None, 5], "logger.csv.version": ["", "v1", 3, None],
    "logger.tensorboard.default_hp_metric": [True, False, "x"],
    # what the run optimises (conf/optimize), the search's keys (conf/hparams_search)
    "optimized_metric": ["val/elbo", "val/fid_classifier", "test/elbo", "train/elbo", None],
    "optimized_mode": ["min", "max", "up"],
    "model.optimizer.lr": [1e-3, 0.1, 0, -1, INF, NAN, "fast"],
    "model.latent_dim": [1, 2, 16, 0, -1, 2.5], "model.beta": [0.0, 1.0, 20.0, -0.5, NAN],
    # the models' other keys
    "model.kl_warmup_steps": [0, 10, -1], "model.iwae_samples": [0, 1, 3, -1],
    "model.iwae_batch": [1, 2048, 0], "model.iwae_chunk": [None, 1, 0],
    "model.likelihood": ["bernoulli", "gaussian", "poisson"], "model.binarize": [True, False],
    "model.gaussian_std": [0.1, 0.0, -1.0],
    "model.d_steps": [1, 2, 0], "model.label_smoothing": [0.0, 0.1, 0.5, 0.6],
    "model.pack": [1, 2, 3, 0], "model.fixed_noise_size": [1, 64, 0],
    "model.objective": ["minimax", "non_saturating", "wasserstein"],
    "model.optimizer_g.lr": [2e-4, 0, -1], "model.optimizer_d.betas": [[0.5, 0.999], [1.5, 0.9]],
    "model.encoder.hidden_dims": [[8], [], [4, 0]],
    "model.encoder.channels": [[8], [8, 16, 32, 64]],
    # data
    "data.batch_size": [1, 2, 64, 5000, 0, -1], "data.eval_batch_size": [None, 1, 7, 0],
    "data.val_size": [1, 2, 180, 1436, 1437, 0, -1], "data.test_size": [1, 2, 360, 0],
    "data.split_seed": SEEDS, "data.train_size": [1, 100, 0], "data.n_modes": [1, 8, 0],
    "data.std": [0.01, 0.0, -1.0], "data.radius": [1.0, 0.0],
    # trainer and debug presets' keys
    "trainer.fast_dev_run": [True, False, 1, 2, -1, "x"], "trainer.max_epochs": [0, 1, 2, -2],
    "trainer.max_steps": [-1, 1, -2],
    "trainer.precision": ["32-true", "bf16-mixed", "64-true", "17"],
    "trainer.gradient_clip_val": [None, 0.5, -1], "trainer.accumulate_grad_batches": [1, 3, 0],
    "trainer.log_every_n_steps": [1, 50, 0], "trainer.check_val_every_n_epoch": [1, 2, None, 0],
    "trainer.deterministic": [True, False, "warn", "always"], "trainer.devices": [1, 0, "x"],
    # root keys, paths and sweep keys
    "seed": [0, 42, None, BIG - 1, BIG, -1], "train": [True, False, "maybe"],
    "test": [True, False, 0], "resume": [None, "auto", "yes"], "run_id": [None, "r1", 7, "a/b"],
    "tags": [["a"], [], None, [1]], "sweep.fail_policy": ["any", "never", "some"],
    "sweep.name": [None, "s", "a/b"], "task_name": ["train", "x/y"],
    "paths.data_dir": ["${paths.root_dir}/d", 5], "paths.log_dir": ["${paths.root_dir}/l", 5],
}


def _fmt(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # Hydra reads nan / inf
    if isinstance(value, list):
        return "[" + ",".join(map(str, value)) + "]"
    return str(value)


def _choose(rng: random.Random) -> list[str]:
    composition = list(rng.choice(COMPOSITIONS))
    vae = composition[1] in ("model=vae", "model=conv_vae")
    groups = {g: rng.choice(o) for g, o in GROUPS.items() if vae or not g.startswith("model/")}
    return composition + [f"{g}={o}" for g, o in groups.items() if o is not None] + SHORT \
        + (SHORT_VAE if vae else []) + (SHORT_SUITE if groups["metrics"] == "default" else [])


def draw(index: int, compose_cfg) -> list[str]:
    """The overrides of draw `index`: group options, the short run, 1-4 drawn keys that
    exist in that composition."""
    rng = random.Random(f"{SEED}-{index}")
    base = _choose(rng)
    cfg = compose_cfg(*base, tiny=False)
    present = [k for k in POOLS if OmegaConf.select(cfg, k, default="<absent>") != "<absent>"]
    keys = rng.sample(present, rng.randint(1, 4))
    return base + [f"{k}={_fmt(rng.choice(POOLS[k]))}" for k in keys]


SUITE = ["data=digits", "model=vae", "metrics=default", "callbacks=default", "logger=csv",
         *SHORT, *SHORT_VAE, *SHORT_SUITE]
# values that once crashed a run (one-line fixes each); kept so that a removed rule fails
REGRESSIONS = [
    [*SUITE, "data.val_size=1"],  # KID: subset_size should be smaller than the samples
    [*SUITE, "data.test_size=1"],  # same, at test, after training
    [*SUITE, "data.eval_batch_size=1"],  # interpolation grid of 0 pairs: ZeroDivisionError
    [*SUITE, "model.latent_dim=1"],  # latent-space PCA to 2 components of a 1-d latent
    [*SUITE, "callbacks.latent_space.max_points=1"],  # PCA of one point
    [*SUITE, "metrics.n_reference=500"],  # refused only after the classifier was trained
    [*SUITE, "seed=5000000000"],  # numpy's seed range, in seed_everything
    [*SUITE, "data.split_seed=99999999999999999999"],  # torch.Generator: overflow
    [*SUITE, "metrics.seed=99999999999999"],  # seed * 1,000,003 overflows torch's seed
    [*SUITE[:-6], "model=cgan", "callbacks=gan", "callbacks.class_grid.per_class=100"],
    [*SUITE[:-6], "model=cgan", "model.pack=2"],  # refused by the model, after torch
    [*SUITE, "trainer.precision=64-true"],  # float64 weights, float32 noise: mat1 and mat2
]


def _rejected_before_run(overrides: list[str], compose_cfg) -> ConfigError | None:
    """What genlab-train does before it imports torch: pre-check the overrides, compose,
    resolve, validate. The ConfigError it raises, or None."""
    from genlab.config.instantiate import resolved
    from genlab.config.preflight import preflight
    from genlab.config.schema import validate

    try:
        preflight(overrides)
        validate(resolved(compose_cfg(*overrides, tiny=False)))
    except ConfigError as err:
        return err
    return None


def _assert_cli_rejects(overrides: list[str], err: ConfigError, cwd: Path) -> None:
    """The command itself: exit 2, the key named, one paragraph, no traceback, no torch."""
    env = {**os.environ, "GENLAB_ROOT": str(cwd)}
    env.pop("HYDRA_FULL_ERROR", None)
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "genlab.train", *overrides],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    message = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]
    assert proc.returncode == 2, "\n".join(message)[-3000:]
    assert f"`{err.key}`" in "\n".join(message) and "Traceback" not in proc.stderr
    assert len("\n".join(message).strip().splitlines()) <= 6, message
    assert not {m for m in imported if m.split(".")[0] in ("torch", "lightning")}


def _check(overrides: list[str], compose_cfg, tmp_path: Path) -> None:
    err = _rejected_before_run(overrides, compose_cfg)
    if err is not None:
        _assert_cli_rejects(overrides, err, tmp_path)
        return
    from genlab.cli.train import run

    run(compose_cfg(*overrides, tiny=False))  # must finish: any exception fails the draw
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name], "a half-written file"


@pytest.fixture
def shared_cache(tmp_path_factory, monkeypatch) -> None:
    """One cache for all draws: each metric classifier is trained once, then read."""
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path_factory.getbasetemp() / "property-cache"))


@pytest.mark.parametrize("index", range(DRAWS))
def test_random_values_run_or_are_rejected_cleanly(index: int, compose_cfg, tmp_path: Path,
                                                   shared_cache) -> None:
    overrides = draw(index, compose_cfg)
    print(" ".join(overrides))
    _check(overrides, compose_cfg, tmp_path)


@pytest.mark.parametrize("overrides", REGRESSIONS, ids=[o[-1] for o in REGRESSIONS])
def test_values_that_once_crashed_run_or_are_rejected_cleanly(overrides: list[str], compose_cfg,
                                                              tmp_path: Path,
                                                              shared_cache) -> None:
    _check(overrides, compose_cfg, tmp_path)


def test_reference_statistics_follow_the_features_config(compose_cfg, tmp_path: Path,
                                                          shared_cache) -> None:
    """Found by the draws: the same seed trains the same classifier weights with
    feature_grid 2 and 1, and reference statistics keyed by the weights' hash alone gave
    the second run the first one's 256-d features for its 64-d ones (a RuntimeError in
    FID). Fails if the extractor's identity leaves its config out."""
    for grid in (2, 1):
        _check([*SUITE, f"metrics.features.model.net.feature_grid={grid}"], compose_cfg,
               tmp_path)


def test_the_draws_reach_every_group(compose_cfg) -> None:
    """The pools name keys of every group, and the seeded draws use most of them."""
    prefixes = {k.split(".")[0] for k in POOLS}
    assert {"metrics", "callbacks", "logger", "model", "data", "trainer", "paths", "sweep",
            "optimized_metric", "seed"} <= prefixes
    assert any(k.startswith("metrics.features.") for k in POOLS)
    drawn = {o.split("=")[0] for i in range(DRAWS) for o in draw(i, compose_cfg)[-4:]}
    assert {k.split(".")[0] for k in drawn if k in POOLS} >= {"metrics", "callbacks", "model",
                                                               "data", "trainer"}
