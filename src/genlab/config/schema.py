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
are ignored. Rules between keys are config/rules.py's `CROSS_RULES`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genlab.config.choices import (
    FAIL_POLICIES,
    RESUME_MODES,
    TORCHVISION_DATASETS,
)
from genlab.config.keys import declared
from genlab.config.rules import CROSS_RULES
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
            declared_key = declared(str(node["_target_"])).get(str(key))
            doc = f"`{key}`: {declared_key.doc}." if declared_key else ""
            raise ConfigError(f"{path}.{key}", value, spec.describe(),
                              KEY_HINTS.get((node["_target_"], key), doc))


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
LATENT_PRIORS = ("model", "gaussian")  # apps/latent.py: LatentModel.prior_loss
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
              "app.prior": Spec("str", choices=LATENT_PRIORS),
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
