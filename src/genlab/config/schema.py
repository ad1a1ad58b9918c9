"""Config validation that runs before torch or Lightning is imported.

Hydra already rejects unknown config groups and keys that are not in the composed config;
this layer checks values: types, ranges, allowed choices and near-miss key names. Rules are
attached to a node's `_target_`: a genlab class declares its keys in its own signature
(config/keys.py, read here without importing it); a library class (Lightning's Trainer,
torch's optimisers) has an entry in `TARGET_SCHEMAS` (tests/test_config_rules.py fails for
a key that any composition of conf/ reaches without a rule). A schema is closed (a key it
does not name is refused with a near miss) unless it holds `OPEN`: the library classes with
many more parameters than genlab's configs set (Lightning's Trainer, ModelCheckpoint,
loggers, strategies) check the keys genlab sets and pass the others on, where the library
refuses a wrong one (reported as a RefusedConfigError). Keys starting with `_` (Hydra's)
are ignored. Rules between keys are the `CROSS_RULES` below.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genlab.config.choices import (
    DCGAN_SIZES,
    DIGITS_IMAGES,
    DIGITS_SHAPE,
    FAIL_POLICIES,
    METRIC_DIRECTION,
    RESUME_MODES,
    TORCHVISION_DATASETS,
)
from genlab.config.keys import declared
from genlab.config.spec import Spec, as_list
from genlab.errors import ConfigError

INT_POS = Spec("int", min=1)
INT_NONNEG = Spec("int", min=0)
FLOAT_POS = Spec("float", min=1e-12)
BOOL = Spec("bool")
BOOL_OR_NULL = Spec("bool", nullable=True)
STR = Spec("str")
ANY = Spec()
OPEN = "*"  # a schema holding this key passes keys it does not name on to the class
STR_OR_NULL = Spec("str", nullable=True)
# seeds go to Lightning's seed_everything (numpy's range) and torch.Generator.manual_seed;
# the metric suite derives its per-chunk seeds as seed * 1,000,003 + offset, which stays in
# torch's 64-bit range for every seed in this one
SEED = Spec("int", 0, 2**32 - 1)

ROOT_ACCELERATOR = Spec("str", choices=("auto", "cpu", "gpu", "cuda", "mps", "tpu"))
# float32 weights, or autocast around them: the models draw their noise, and the metric
# suite's extractors read images, in float32 ("64-true", "16-true" and "bf16-true" cast
# the weights and fail at the first sample grid with a dtype mismatch)
PRECISION = Spec("str", choices=("32-true", "32", "16-mixed", "bf16-mixed"))

_CKPT = {"dirpath": Spec("path"), "filename": STR, "monitor": STR_OR_NULL,
         "mode": Spec("str", choices=("min", "max")), "save_top_k": Spec("int", min=-1),
         "save_last": Spec(choices=(True, False, "link"), nullable=True),
         "auto_insert_metric_name": BOOL, "every_n_epochs": Spec("int", min=0, nullable=True),
         "save_weights_only": BOOL, OPEN: ANY}
_BETA = Spec("float", 0, 0.999999)
_SCHEDULE = {"interval": Spec("str", choices=("epoch", "step")), "frequency": INT_POS}
# The keys genlab sets of library classes (Lightning's, torch's), whose signatures genlab
# cannot annotate (BestCheckpoint: Lightning's ModelCheckpoint's); genlab's own classes
# declare theirs in their signature (config/keys.py).
TARGET_SCHEMAS: dict[str, dict[str, Spec]] = {
    "genlab.callbacks.checkpoints.BestCheckpoint": _CKPT,
    "lightning.pytorch.callbacks.ModelCheckpoint": _CKPT,
    "lightning.pytorch.callbacks.RichProgressBar": {"leave": BOOL, "refresh_rate": INT_POS},
    "genlab.runtime.checkpoint_io.AtomicCheckpointIO": {},
    "lightning.pytorch.Trainer": {
        "default_root_dir": Spec("path"), "accelerator": ROOT_ACCELERATOR,
        "devices": ANY,  # _check_devices
        "num_nodes": INT_POS, "min_epochs": Spec("int", min=0, nullable=True),
        "max_epochs": Spec("int", min=-1, nullable=True), "max_steps": Spec("int", min=-1),
        "precision": PRECISION,
        "log_every_n_steps": INT_POS, "check_val_every_n_epoch": Spec("int", min=1,
                                                                       nullable=True),
        "deterministic": Spec(choices=(True, False, "warn")), "enable_progress_bar": BOOL,
        "enable_model_summary": BOOL, "benchmark": Spec("bool", nullable=True),
        "plugins": Spec("list", nullable=True), "fast_dev_run": Spec("flag_or_count"),
        "limit_train_batches": Spec("batches", nullable=True),
        "limit_val_batches": Spec("batches", nullable=True),
        "limit_test_batches": Spec("batches", nullable=True),
        "overfit_batches": Spec("batches"),
        "profiler": Spec("str", nullable=True, choices=("simple", "advanced", "pytorch")),
        "strategy": ANY,  # a name or a strategy node (checked by its own schema)
        "sync_batchnorm": BOOL, "gradient_clip_val": Spec("float", min=0, nullable=True),
        "accumulate_grad_batches": INT_POS, "num_sanity_val_steps": Spec("int", min=-1),
        OPEN: ANY,
    },
    "lightning.pytorch.strategies.DDPStrategy": {
        "process_group_backend": Spec("str", nullable=True, choices=("gloo", "nccl", "mpi")),
        "timeout": Spec("dict", nullable=True), "find_unused_parameters": BOOL, OPEN: ANY,
    },
    "datetime.timedelta": {"minutes": Spec("float", min=0), "seconds": Spec("float", min=0),
                           "hours": Spec("float", min=0)},
    "lightning.pytorch.loggers.CSVLogger": {"save_dir": Spec("path"), "name": STR_OR_NULL,
                                            "version": ANY, OPEN: ANY},
    "lightning.pytorch.loggers.TensorBoardLogger": {
        "save_dir": Spec("path"), "name": STR_OR_NULL, "version": ANY,
        "default_hp_metric": BOOL, OPEN: ANY},
    "lightning.pytorch.loggers.WandbLogger": {
        "project": STR, "name": STR_OR_NULL, "save_dir": Spec("path"), "offline": BOOL,
        "id": STR_OR_NULL, "group": STR_OR_NULL, "tags": Spec("list", nullable=True, item=STR),
        "job_type": STR_OR_NULL, "log_model": Spec(choices=(True, False, "all")), OPEN: ANY},
    "torch.optim.Adam": {"lr": FLOAT_POS, "weight_decay": Spec("float", min=0),
                         "betas": Spec("list", item=_BETA), "eps": FLOAT_POS, "amsgrad": BOOL,
                         "fused": BOOL_OR_NULL, "foreach": BOOL_OR_NULL},
    "torch.optim.AdamW": {"lr": FLOAT_POS, "weight_decay": Spec("float", min=0),
                          "betas": Spec("list", item=_BETA), "eps": FLOAT_POS, "amsgrad": BOOL,
                          "fused": BOOL_OR_NULL, "foreach": BOOL_OR_NULL},
    "torch.optim.SGD": {"lr": FLOAT_POS, "weight_decay": Spec("float", min=0),
                        "momentum": Spec("float", 0, 0.999999), "nesterov": BOOL,
                        "dampening": Spec("float", 0, 1)},
    "torch.optim.lr_scheduler.CosineAnnealingLR": {**_SCHEDULE, "T_max": INT_POS,
                                                   "eta_min": Spec("float", min=0)},
    "torch.optim.lr_scheduler.ReduceLROnPlateau": {
        **_SCHEDULE, "mode": Spec("str", choices=("min", "max")), "monitor": STR,
        "factor": Spec("float", 1e-6, 0.999999), "patience": INT_NONNEG,
        "min_lr": Spec("float", min=0)},
}

# Keys outside any `_target_` node, by dotted path.
ROOT_SPECS: dict[str, Spec] = {
    "seed": Spec("int", 0, 2**32 - 1, nullable=True),
    "optimized_mode": Spec("str", choices=("min", "max")),
    "optimized_metric": Spec("str", nullable=True),
    # the Trainer's keys, checked first (a wrong budget or device before anything else),
    # from its one schema above
    **{f"trainer.{key}": spec for key, spec in TARGET_SCHEMAS["lightning.pytorch.Trainer"].items()
       if key != OPEN},
    "logger.wandb.offline": BOOL,
    "data.num_workers": INT_NONNEG,
    # train.yaml's own keys: what the run does and what its directories are called
    "train": BOOL, "test": BOOL,
    "resume": Spec("str", choices=RESUME_MODES, nullable=True),
    "ckpt_path": Spec("path", nullable=True),
    "project": STR, "run_name": Spec("name"), "task_name": Spec("name"),
    "run_id": Spec("name", nullable=True),
    "print_config": BOOL,
    "tags": Spec("list", nullable=True, item=STR),
    "sweep.name": Spec("name", nullable=True),
    "sweep.fail_policy": Spec("str", choices=FAIL_POLICIES),
    **{f"paths.{key}": Spec("path")
       for key in ("root_dir", "data_dir", "log_dir", "cache_dir", "output_dir")},
}
# optimiser partials: lr and friends must be positive
OPTIM_SPECS: dict[str, Spec] = {"lr": FLOAT_POS, "weight_decay": Spec("float", min=0)}


def near_miss(name: str, options: list[str]) -> str:
    """'did you mean `x`?' for a close match, else ''."""
    match = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return f"Did you mean `{match[0]}`?" if match else ""


def _walk(node: Any, path: str):
    """Yield (dotted path, mapping) for every mapping in the config tree."""
    if isinstance(node, Mapping):
        yield path, node
        for key, child in node.items():
            yield from _walk(child, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _walk(child, f"{path}[{i}]")


def target_schema(target: str) -> dict[str, Spec] | None:
    """What `target`'s node may hold: the keys its class declares (config/keys.py), else
    the table above; None for a class genlab knows no rules of (a model from outside)."""
    keys = declared(target)
    if keys:
        return {name: key.spec for name, key in keys.items()}
    return TARGET_SCHEMAS.get(target)


def _check_target_node(path: str, node: Mapping) -> None:
    schema = target_schema(str(node.get("_target_", "")))
    if schema is None:
        return
    for key, value in node.items():
        if str(key).startswith("_"):
            continue
        spec = schema.get(key)
        if spec is None and OPEN in schema:
            continue
        if spec is None:
            hint = near_miss(str(key), list(schema))
            raise ConfigError(
                f"{path}.{key}", value, "one of the keys " + ", ".join(sorted(schema)),
                hint or f"`{node['_target_']}` takes no `{key}`.",
            )
        if not spec.accepts(value):
            raise ConfigError(f"{path}.{key}", value, spec.describe(),
                              KEY_HINTS.get((node["_target_"], key), ""))


# what to change when a key that is usually derived is refused
KEY_HINTS = {("torch.optim.lr_scheduler.CosineAnnealingLR", "T_max"):
             "It spans the run's budget (conf/model/scheduler/cosine.yaml): give the run "
             "trainer.max_epochs ≥ 1, or trainer.max_epochs=-1 with trainer.max_steps ≥ 1, "
             "or set the schedule's length itself (model.scheduler.T_max=N)."}


def _lookup(cfg: Mapping, dotted: str) -> tuple[bool, Any]:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


# --- cross-field rules -------------------------------------------------------------------
NATIVE_SIZE = {name: shape[-1] for name, (_, shape, _, _) in TORCHVISION_DATASETS.items()}


def data_image_side(data: Mapping) -> int | None:
    """The image side the data module will produce, or None for non-image data."""
    target = str(data.get("_target_", ""))
    if target.endswith("DigitsDataModule"):
        return DIGITS_SHAPE[-1]
    if target.endswith("TorchvisionDataModule"):
        return data.get("image_size") or NATIVE_SIZE.get(data.get("dataset"), 0)
    if target.endswith("ImageFolderDataModule"):
        return data.get("image_size")
    return None


def _check_nets_fit_data(cfg: Mapping) -> None:
    model, data = cfg.get("model") or {}, cfg.get("data") or {}
    side = data_image_side(data)
    name = data.get("name", "this data")
    for part in ("encoder", "decoder", "generator", "discriminator"):
        net = model.get(part) or {}
        target = str(net.get("_target_", ""))
        image_net = ".conv." in target or ".dcgan." in target
        if image_net and side is None:
            raise ConfigError(f"model.{part}._target_", target, "an MLP net for non-image data",
                              f"`{name}` is not image data; use model=vae or model=toy_gan.")
        if ".toy." in target and side is not None:
            raise ConfigError(f"model.{part}._target_", target, "an image net for image data",
                              f"`{name}` holds images; use model=dcgan or model=cgan.")
        stages = len(net.get("channels") or [])
        if ".conv." in target and side and side % 2**stages:
            raise ConfigError(f"model.{part}.channels", net.get("channels"),
                              f"a list whose length k has {side} divisible by 2**k "
                              f"({name} images are {side}×{side})")
        if ".dcgan." in target and side not in DCGAN_SIZES:
            raise ConfigError("data.image_size", side,
                              f"{', '.join(map(str, DCGAN_SIZES))} for the DCGAN nets",
                              "Use data.image_size=32 (MNIST pads by 2 pixels).")


def _check_likelihood(cfg: Mapping) -> None:
    model, data = cfg.get("model") or {}, cfg.get("data") or {}
    if str(model.get("_target_", "")).endswith(".VAE") and data_image_side(data) is None:
        raise ConfigError("data", data.get("name"), "image data for the VAE (its decoder "
                          "models pixels in [0, 1])", "Use data=digits, mnist, cifar10, ...")
    if model.get("likelihood") == "gaussian" and model.get("binarize"):
        raise ConfigError("model.binarize", True, "false with likelihood=gaussian",
                          "Binarisation belongs to the Bernoulli likelihood.")


def _check_metric_direction(cfg: Mapping) -> None:
    metric, mode = cfg.get("optimized_metric"), cfg.get("optimized_mode")
    better = METRIC_DIRECTION.get(str(metric).rsplit("/", 1)[-1].split("_classifier")[0])
    if metric and better and mode != better:
        raise ConfigError("optimized_mode", mode, f"{better} for {metric}",
                          f"Higher is better for {metric}." if better == "max"
                          else f"Lower is better for {metric}.")


SUITE_METRICS = ("fid", "kid", "is", "precision", "recall", "class_acc")


def _check_metric_is_logged(cfg: Mapping) -> None:
    metric = str(cfg.get("optimized_metric") or "")
    base = metric.rsplit("/", 1)[-1].split("_classifier")[0]
    if base in SUITE_METRICS and not (cfg.get("metrics") or {}).get("_target_"):
        raise ConfigError("optimized_metric", metric, "a metric this run logs",
                          "metrics=none turns the sample-quality suite off: keep metrics=default "
                          "or choose another optimized_metric (null keeps the last checkpoint).")


def _check_devices(cfg: Mapping) -> None:
    devices = (cfg.get("trainer") or {}).get("devices", 1)
    ok = devices == "auto" or (isinstance(devices, int) and not isinstance(devices, bool)
                               and (devices >= 1 or devices == -1))
    ok = ok or (isinstance(devices, list) and all(isinstance(d, int) and d >= 0 for d in devices))
    if not ok:
        raise ConfigError("trainer.devices", devices,
                          "an integer ≥ 1, -1 (all), 'auto' or a list of device indices")


def _check_digits_split(cfg: Mapping) -> None:
    data = cfg.get("data") or {}
    if str(data.get("_target_", "")).endswith("DigitsDataModule"):
        held_out = (data.get("val_size") or 0) + (data.get("test_size") or 0)
        if held_out >= DIGITS_IMAGES:
            raise ConfigError("data.val_size + data.test_size", held_out,
                              f"below {DIGITS_IMAGES} (the digits set has "
                              f"{DIGITS_IMAGES:,} images)")


def _check_selection_split(cfg: Mapping) -> None:
    """Model selection sees validation numbers only: the checkpoint, the value a sweep
    optimises and a plateau scheduler must never be chosen with the test split."""
    metric = str(cfg.get("optimized_metric") or "")
    if metric.startswith("test/"):
        raise ConfigError("optimized_metric", metric, "a val/… (or train/…) metric, or null",
                          "The test split is evaluated once, at the end; choosing checkpoints "
                          f"or sweep trials on it would report a number picked with it. Use "
                          f"`val/{metric.removeprefix('test/')}`.")


def _check_suite_counts(cfg: Mapping) -> None:
    suite = cfg.get("metrics") or {}
    if not suite.get("_target_"):
        return
    n, k = suite.get("n_samples"), suite.get("prc_neighborhood")
    key = "metrics.n_samples"
    if n is None:  # as many as the reference split, at least min_samples
        n, key = suite.get("min_samples"), "metrics.min_samples"
    if isinstance(n, int) and isinstance(k, int) and k >= n:
        raise ConfigError("metrics.prc_neighborhood", k,
                          f"an integer in [1, {n - 1}] (below {key} = {n})")


def known_split_sizes(data: Mapping) -> dict[str, tuple[str, int]]:
    """The reference splits whose size the config alone fixes: split → (key, images).
    (MNIST's test split and an image folder's splits are known once the files are read;
    genlab/callbacks/sample_quality.py checks those when the data is loaded.)"""
    target = str(data.get("_target_", ""))
    sizes = {}
    if target.endswith("DigitsDataModule") or target.endswith("TorchvisionDataModule"):
        sizes["val"] = ("data.val_size", data.get("val_size"))
    if target.endswith("DigitsDataModule"):
        sizes["test"] = ("data.test_size", data.get("test_size"))
    return {split: (key, n) for split, (key, n) in sizes.items() if isinstance(n, int)}


def _check_suite_reference(cfg: Mapping) -> None:
    """The suite compares with ≥ 2 real images of each reference split (FID's covariance,
    KID's subsets) and with at most as many as the split holds."""
    suite = cfg.get("metrics") or {}
    if not suite.get("_target_") or data_image_side(cfg.get("data") or {}) is None:
        return
    sizes = known_split_sizes(cfg.get("data") or {})
    for split, (key, n) in sizes.items():
        if n < 2:
            raise ConfigError(key, n, "an integer ≥ 2 with the metric suite on",
                              f"FID and KID compare with the {split} split's images; "
                              "metrics=none runs without them.")
    n_reference = suite.get("n_reference")
    if sizes and isinstance(n_reference, int):
        small = min(n for _, n in sizes.values())
        if n_reference > small:
            raise ConfigError("metrics.n_reference", n_reference,
                              f"an integer in [2, {small}] or null (all images of the split)",
                              "The suite compares with the val split during training and "
                              "the test split at test; both must hold n_reference images.")


def _check_class_grid(cfg: Mapping) -> None:
    grid = (cfg.get("callbacks") or {}).get("class_grid") or {}
    model = cfg.get("model") or {}
    per_class, noise = grid.get("per_class"), model.get("fixed_noise_size")
    if (grid.get("_target_") and model.get("conditional") and isinstance(per_class, int)
            and isinstance(noise, int) and per_class > noise):
        raise ConfigError("callbacks.class_grid.per_class", per_class,
                          f"an integer in [1, {noise}] (model.fixed_noise_size)",
                          "Each column of the grid is one of the model's fixed noise vectors.")


def _check_gan_pack(cfg: Mapping) -> None:
    model = cfg.get("model") or {}
    pack = model.get("pack")
    if model.get("conditional") and isinstance(pack, int) and pack > 1:
        raise ConfigError("model.pack", pack, "1 for conditional models",
                          "PacGAN packs samples of different labels; use model=dcgan to pack.")


def _check_gan_scheduler(cfg: Mapping) -> None:
    """The GAN steps its players' schedulers itself, without a metric (genlab/models/gan.py)."""
    model = cfg.get("model") or {}
    scheduler = model.get("scheduler") or {}
    if (str(model.get("_target_", "")).endswith("models.gan.GAN")
            and str(scheduler.get("_target_", "")).endswith("ReduceLROnPlateau")):
        raise ConfigError("model.scheduler", scheduler["_target_"],
                          "a scheduler stepped without a metric (e.g. model/scheduler=cosine)",
                          "The GAN steps each player's scheduler itself, per epoch or step.")


def _check_gan_step_budget(cfg: Mapping) -> None:
    """A GAN steps each player's per-step scheduler per *that player's* step, while
    trainer.max_steps counts both players' steps (a batch with a D and a G step counts 2):
    a cosine spanning max_steps (conf/model/scheduler/cosine.yaml, max_epochs=-1) would stop
    halfway down. Refused, saying what works."""
    model, trainer = cfg.get("model") or {}, cfg.get("trainer") or {}
    scheduler = model.get("scheduler") or {}
    max_epochs, max_steps = trainer.get("max_epochs"), trainer.get("max_steps")
    if (str(model.get("_target_", "")).endswith("models.gan.GAN")
            and scheduler.get("interval") == "step" and (max_epochs is None or max_epochs < 0)
            and isinstance(max_steps, int) and max_steps > 0
            and scheduler.get("T_max") == max_steps):
        d_steps = model.get("d_steps", 1)
        raise ConfigError("model.scheduler.T_max", max_steps,
                          "the number of steps each player makes",
                          f"trainer.max_steps={max_steps} counts D and G steps together: "
                          f"with model.d_steps={d_steps} D makes about "
                          f"{max_steps * d_steps // (d_steps + 1)} and G about "
                          f"{max_steps // (d_steps + 1)}, so one cosine cannot span both. "
                          "Bound the run by trainer.max_epochs (the cosine then spans "
                          "epochs), or set model.scheduler.T_max yourself.")


def check_model_rules(model: Mapping) -> None:
    """The cross-field rules on a model node alone, for a model built directly (a notebook):
    the same functions the pre-flight runs on the whole config."""
    for rule in (_check_gan_pack, _check_gan_scheduler):
        rule({"model": model})


def _check_fused_clipping(cfg: Mapping) -> None:
    """Lightning refuses to clip the gradients of an optimizer that unscales them inside its
    own step (a fused Adam) under 16-bit mixed precision; say so before training. A GAN's
    per-player `model.clip_d` / `clip_g` clip through the same plugin."""
    trainer, model = cfg.get("trainer") or {}, cfg.get("model") or {}
    clips = {"trainer.gradient_clip_val": trainer.get("gradient_clip_val"),
             "model.clip_d": model.get("clip_d"), "model.clip_g": model.get("clip_g")}
    clip_key, clip = next(((k, v) for k, v in clips.items() if v), (None, None))
    if str(trainer.get("precision")) not in ("16-mixed", "16") or not clip:
        return
    for key in ("optimizer", "optimizer_g", "optimizer_d"):
        if (model.get(key) or {}).get("fused"):
            raise ConfigError(f"model.{key}.fused", True, "false (or null)",
                              f"trainer.precision={trainer['precision']} with "
                              f"{clip_key}={clip} cannot clip a fused "
                              "optimizer's gradients (Lightning's AMP plugin); set "
                              f"model.{key}.fused=false or {clip_key}=null.")


def _check_manual_optimization(cfg: Mapping) -> None:
    """A GAN steps its two players itself (manual optimisation, genlab/models/gan.py), and
    Lightning cannot accumulate for it: refused here, before the data is prepared, instead
    of by Lightning's validator at fit. (Its other such option, gradient_clip_val, the GAN
    takes as model.clip_d / clip_g.)"""
    model, trainer = cfg.get("model") or {}, cfg.get("trainer") or {}
    accumulate = trainer.get("accumulate_grad_batches", 1)
    if str(model.get("_target_", "")).endswith("models.gan.GAN") and accumulate != 1:
        raise ConfigError("trainer.accumulate_grad_batches", accumulate,
                          "1 for GANs (model=dcgan|cgan|toy_gan)",
                          "A GAN makes its D and G steps itself every batch (manual "
                          "optimisation), which Lightning cannot accumulate; raise "
                          "data.batch_size instead (and the learning rates with it).")


CROSS_RULES = [_check_fused_clipping, _check_manual_optimization, _check_selection_split,
               _check_gan_pack, _check_gan_scheduler, _check_gan_step_budget,
               _check_suite_counts, _check_suite_reference, _check_class_grid,
               _check_devices, _check_nets_fit_data, _check_likelihood, _check_metric_direction,
               _check_metric_is_logged, _check_digits_split]


# keys Hydra itself reads (the run directory, its log file's name) before genlab's run
# starts: genlab/config/preflight.py checks them in its pre-flight
HYDRA_READS = ("task_name", "run_id", "sweep.name", "paths.root_dir", "paths.log_dir")


def validate_root_keys(values: Mapping[str, Any]) -> None:
    """Raise `ConfigError` for the first of these {dotted key: value} that ROOT_SPECS refuses."""
    for dotted, value in values.items():
        spec = ROOT_SPECS[dotted]
        if not spec.accepts(value):
            raise ConfigError(dotted, value, spec.describe())


def validate(cfg: Mapping) -> None:
    """Raise `ConfigError` for the first invalid value in a resolved, plain-dict config."""
    validate_root_keys({dotted: value for dotted in ROOT_SPECS
                        for found, value in [_lookup(cfg, dotted)] if found})
    for path, node in _walk(cfg, ""):
        if "_target_" in node:
            _check_target_node(path, node)
        if node.get("_partial_") and str(node.get("_target_", "")).startswith("torch.optim."):
            for key, spec in OPTIM_SPECS.items():
                if key in node and not spec.accepts(node[key]):
                    raise ConfigError(f"{path}.{key}", node[key], spec.describe())
    for rule in CROSS_RULES:
        rule(cfg)


# The other commands' own keys (conf/eval.yaml, sample.yaml, fetch.yaml); the keys they share
# with genlab-train (trainer, logger, metrics, seed, paths, ...) are checked as above.
# Pre-checked before Hydra makes the run directory (genlab/config/preflight.py).
MANDATORY = "???"  # OmegaConf's mark of a value the command line must give
_CKPT_PATH = Spec("file")
_TRAIN_CONFIG = Spec("file", nullable=True)
# the files the commands read, named in their messages: key → (what it is, an example)
_FILES = {"ckpt_path": ("checkpoint", "<run dir>/checkpoints/last.ckpt"),
          "train_config": ("training config", "<run dir>/config_resolved.yaml")}
APPS = ("invert", "complete", "arithmetic", "interpolate")  # genlab-apply's `app` group
COMPLETION_MASKS = ("center", "bottom_half", "left_half", "random", "box")  # apps/masks.py
COMMAND_SPECS: dict[str, dict[str, Spec]] = {
    "eval": {"ckpt_path": _CKPT_PATH, "train_config": _TRAIN_CONFIG, "data": Spec("dict")},
    "sample": {"ckpt_path": _CKPT_PATH, "train_config": _TRAIN_CONFIG, "n": INT_POS,
               "labels": Spec("list", item=INT_NONNEG, nullable=True, single=True),
               "interpolate": BOOL, "steps": Spec("int", min=2), "seed": SEED},
    "fetch": {"datasets": Spec("list", item=Spec("str", choices=tuple(TORCHVISION_DATASETS)),
                               single=True),
              "inception": BOOL, "timeout": Spec("float", min=0.1)},  # seconds
    # genlab-apply (conf/apply.yaml, conf/app/*.yaml; genlab/apps/): a key of another app
    # than the chosen one is absent from its config, so Hydra refuses it by name
    "apply": {"ckpt_path": _CKPT_PATH, "train_config": _TRAIN_CONFIG, "data": Spec("dict"),
              "split": Spec("str", choices=("train", "val", "test")), "n": INT_POS,
              "seed": SEED, "batch_size": INT_POS,
              "app.name": Spec("str", choices=APPS), "app.steps": INT_NONNEG,
              "app.lr": FLOAT_POS, "app.restarts": INT_POS, "app.lam": Spec("float", min=0),
              "app.norm": Spec("int", choices=(1, 2)),
              "app.feature_weight": Spec("float", min=0),
              "app.mask": Spec("str", choices=COMPLETION_MASKS),
              "app.fraction": Spec("float", 0, 1),
              "app.box": Spec("list", item=INT_NONNEG, nullable=True),
              "app.window": Spec("int", min=1, nullable=True), "app.baselines": BOOL,
              "app.k": INT_POS, "app.pool": INT_POS,
              "app.target_class": Spec("int", min=0, nullable=True),
              "app.path_steps": Spec("int", min=2)},
}


def validate_command(cfg: Mapping, command: str) -> None:
    """Raise `ConfigError` for the first invalid value in a resolved, plain-dict config of
    genlab-eval/-sample/-fetch (`command`: its config's name): what `validate` checks, then
    the command's own keys, a mandatory one (`???`) named as such."""
    validate(cfg)
    for key, spec in COMMAND_SPECS.get(command, {}).items():
        found, value = _lookup(cfg, key)
        if found and value == MANDATORY:
            raise ConfigError(key, value, spec.describe(),
                              f"`{key}` has no default: give it on the command line "
                              f"(genlab-{command} {key}={_FILES.get(key, ('', '...'))[1]}).")
        if found and not spec.accepts(value):
            raise ConfigError(key, value, spec.describe(), _refusal_hint(key, value, spec))


def _refusal_hint(key: str, value: Any, spec: Spec) -> str:
    """A missing file's absolute path, or the nearest allowed name to a mistyped one."""
    if spec.kind == "file" and isinstance(value, str):
        what, example = _FILES.get(key, ("file", ""))
        return f"No such {what}: {Path(value).absolute()}" + (
            f" (expected like {example})." if example else ".")
    choices = (spec.item or spec).choices
    names = [v for v in (as_list(value) if spec.kind == "list" else [value]) or []
             if isinstance(v, str) and v not in choices]
    return near_miss(names[0], [str(c) for c in choices]) if names and choices else ""
