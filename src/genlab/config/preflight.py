"""Pre-flight check of the command line, before Hydra runs the job.

Hydra reports a mistyped key or option with its own message and exit code 1, without
saying what was meant, and a few combinations of its own flags (`-m` with `--cfg`) with a
traceback. Reading the flags with Hydra's own parser and composing the config once here
(milliseconds, no torch) lets genlab answer the same mistakes as every other config error:
one paragraph naming the key, what is allowed and the nearest valid name, exit code 2.
genlab-eval/-sample/-fetch also get their values checked here (`check_command_config`),
before Hydra makes their run directory; genlab-train checks its values in its `prepare`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser  # Hydra's own reading of its flags
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ValueType
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf, open_dict
from yaml import YAMLError

from genlab import run_dir
from genlab.config import config_dir
from genlab.config.instantiate import resolved
from genlab.config.moved import read_run_config
from genlab.config.rules import data_image_side, known_split_sizes
from genlab.config.schema import (
    HYDRA_READS,
    as_list,
    near_miss,
    validate_command,
    validate_root_keys,
)
from genlab.errors import ConfigError
from genlab.run_dir import ensure_writable

CONFIG_NAME = "train"  # genlab-train's; genlab-eval/-sample/-fetch pass their own
# the one hydra.* key that changes what composes: config groups from outside the package
SEARCHPATH = "hydra.searchpath"
_ABSENT = object()
# Hydra's commands: it runs exactly one of them (a run when none is given)
MODES = {"run": "--run", "multirun": "-m", "cfg": "--cfg job|hydra|all",
         "info": "--info", "shell_completion": "--shell-completion"}
SHELL_COMPLETION = ("install", "uninstall", "query")
MAX_JOBS_CHECKED = 64  # a sweep's jobs composed here (about 20 ms each)


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def hydra_flags(args: Sequence[str]) -> argparse.Namespace | None:
    """The command line as Hydra's own parser reads it, or None where that parser refuses
    it (Hydra then prints its usage line and exits with 2, no traceback)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            return get_args_parser().parse_args(list(args))
        except SystemExit:  # a bad flag, or --version
            return None


def check_flags(flags: argparse.Namespace, args: Sequence[str]) -> None:
    """Raise ConfigError for the flag combinations Hydra answers with a traceback (or its
    own one-line error): two of its commands at once, --resolve alone, --shell-completion
    without a subcommand, --config-name of a config that does not exist."""
    given = " ".join(a for a in args if a.startswith("-")) or " ".join(args)
    modes = [name for name in MODES if getattr(flags, name) not in (None, False)]
    if len(modes) > 1:
        hint = ("`--cfg` and `--info` show one run's config: drop `-m` (add "
                "hydra.mode=MULTIRUN to `--cfg hydra` to see a sweep's settings)."
                if "multirun" in modes else "Run the command once for each.")
        raise ConfigError("command line", given, "one of " + ", ".join(MODES.values()), hint)
    if flags.resolve and flags.cfg is None and not flags.help:
        raise ConfigError("--resolve", given, "only together with --cfg job|hydra|all",
                          "Add `--cfg job` to print the resolved config.")
    if flags.shell_completion and not any(_key(o) in SHELL_COMPLETION for o in flags.overrides):
        raise ConfigError("--shell-completion", given,
                          "with one of install=SHELL, uninstall=SHELL, query=SHELL",
                          "E.g. `--shell-completion install=bash`.")
    if (flags.config_name and not (flags.config_path or flags.config_dir)
            and not (config_dir() / f"{flags.config_name}.yaml").is_file()):
        names = sorted(p.stem for p in config_dir().glob("*.yaml"))
        raise ConfigError("--config-name", flags.config_name, ", ".join(names),
                          near_miss(flags.config_name, names))


def runs_to_check(flags: argparse.Namespace, config_name: str) -> list[list[str]]:
    """The overrides of each run to pre-check: the one run, or each job of a basic sweep
    (`-m seed=1,2`: two) of genlab-eval/-sample/-fetch. None ([]) where Hydra will not compose
    this package's config with them (help, shell completion, another config), nor for
    genlab-train's sweeps (a bad trial must not end the sweep: runtime/trials.py)."""
    if (flags.help or flags.hydra_help or flags.shell_completion or flags.config_name
            or flags.config_path or flags.config_dir or flags.experimental_rerun
            or (flags.multirun and config_name == CONFIG_NAME)):
        return []
    overrides = [o for o in flags.overrides
                 if not _key(o).startswith("hydra") or _key(o) == SEARCHPATH]
    return sweep_jobs(overrides) if flags.multirun else [overrides]


def sweep_jobs(overrides: list[str]) -> list[list[str]]:
    """Each job's overrides, as Hydra's basic sweeper makes them (the product of the
    `a=1,2`, `choice(...)` and `range(...)` values); [] for a sweep over intervals or globs,
    or of more than MAX_JOBS_CHECKED jobs (each job then checks itself)."""
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except OverrideParseException:
        return [overrides]  # reported as for a single run
    axes = []
    for override in parsed:
        if not override.is_sweep_override():
            axes.append([override.input_line])
        elif override.value_type in (ValueType.SIMPLE_CHOICE_SWEEP, ValueType.CHOICE_SWEEP,
                                     ValueType.RANGE_SWEEP):
            key = override.get_key_element()
            axes.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        else:
            return []
    if math.prod(len(axis) for axis in axes) > MAX_JOBS_CHECKED:
        return []
    return [list(job) for job in itertools.product(*axes)]


def _compose(overrides: list[str], config_name: str = CONFIG_NAME) -> DictConfig:
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
            return compose(config_name, overrides=overrides)
    finally:
        GlobalHydra.instance().clear()


def _group_options(group: str) -> list[str]:
    folder = config_dir() / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _node_keys(cfg: DictConfig, dotted_parent: str) -> list[str]:
    node = cfg
    for part in [p for p in dotted_parent.split(".") if p]:
        if not isinstance(node, DictConfig) or part not in node:
            return []
        node = node[part]
    return [str(k) for k in node] if isinstance(node, DictConfig) else []


def _unknown_key(key: str, value: str, others: list[str], config_name: str) -> ConfigError:
    parent, _, leaf = key.rpartition(".")
    # the keys that exist with the command line's group choices (`metrics=none`), whatever
    # other key overrides it has: those may fail to compose for the same reason
    groups = [o for o in others if "." not in _key(o) or _key(o) == SEARCHPATH]
    try:
        base = _compose(groups, config_name)
    except Exception:
        base = _compose([], config_name)
    keys = _node_keys(base, parent)
    if not parent and config_name == CONFIG_NAME:  # or a mistyped group of train.yaml's
        keys += [p.name for p in config_dir().iterdir() if p.is_dir()]
    where = f"under `{parent}`" if parent else "at the top level"
    hint = near_miss(leaf, [k for k in keys if k != leaf]) or (
        f"Use `+{key}={value}` to add a new key." if keys else "")
    allowed = (f"existing keys {where}: {', '.join(sorted(set(keys)))}" if keys else
               f"no key: nothing exists {where} with {' '.join(groups) or 'the defaults'}")
    return ConfigError(key, value, allowed, hint)


def _composed(overrides: list[str], config_name: str) -> DictConfig:
    """`config_name` composed with these overrides, or the ConfigError for Hydra's refusal."""
    try:
        return _compose(overrides, config_name)
    except OverrideParseException as err:
        quoted = next((o for o in overrides if "=" in o.split("=", 1)[-1]), None)
        hint = str(err).splitlines()[0] + (
            f" A value holding `=` (like Lightning's epoch=N-step=M.ckpt names) needs "
            f"quotes: '{_key(quoted)}=\"{quoted.split('=', 1)[1]}\"'." if quoted else "")
        raise ConfigError("command line", " ".join(overrides),
                          "Hydra overrides such as key=value, group=option, +new_key=value",
                          hint) from None
    except MissingConfigException as err:
        match = re.search(r"Could not find '([^']+)'", str(err))
        if not match:
            raise
        group, _, option = match.group(1).rpartition("/")
        options = _group_options(group)
        raise ConfigError(group, option, ", ".join(options) or "(no options)",
                          near_miss(option, options)) from None
    except ConfigCompositionException as err:
        match = re.search(r"Could not override '([^']+)'", str(err))
        if not match:
            raise
        key = match.group(1)
        bad = next(o for o in overrides if _key(o) == key)
        others = [o for o in overrides if o is not bad]
        raise _unknown_key(key, bad.split("=", 1)[-1], others, config_name) from None


def check_command_config(plain: Mapping, config_name: str) -> None:
    """Raise ConfigError for what a resolved genlab-eval/-sample/-fetch config decides
    alone: types, ranges, mandatory keys (`ckpt_path`), files that must exist, and for a
    checkpoint, the run it came from: its config_resolved.yaml, read for the model class
    (genlab.runtime.checkpoint_io reads the same file), and whether it takes `labels`."""
    validate_command(plain, config_name)
    if "ckpt_path" not in plain:
        return
    run = run_dir.of_checkpoint(plain["ckpt_path"])
    train_config = Path(plain.get("train_config") or run / run_dir.CONFIG)
    if not train_config.is_file():
        raise ConfigError("train_config", plain.get("train_config"),
                          f"the training run's {run_dir.CONFIG}",
                          f"The checkpoint's run directory {run} has none: pass "
                          f"`train_config=<run dir>/{run_dir.CONFIG}`.")
    labels = as_list(plain.get("labels"))
    try:
        train = read_run_config(train_config)
        model = train.get("model") or {}
    except (OSError, YAMLError) as err:
        raise ConfigError("train_config", str(train_config), f"a run's {run_dir.CONFIG}",
                          f"It cannot be read: {str(err).splitlines()[0]}") from None
    model = model if isinstance(model, Mapping) else {}
    if config_name == "apply":
        check_app(plain, train.get("data") or {})
    if labels is not None and not model.get("conditional", False):
        raise ConfigError("labels", labels, "null for an unconditional model",
                          f"The checkpoint's model (`{model.get('_target_', '?')}`) draws "
                          "no class-conditional samples; drop `labels=`.")


IMAGE_DATA = ("DigitsDataModule", "TorchvisionDataModule", "ImageFolderDataModule")


def check_app(plain: Mapping, train_data: Mapping) -> None:
    """genlab-apply: refuse what its config and the training run's data decide alone — an
    app the checkpoint cannot serve (non-image data; arithmetic on unlabelled images), a box
    outside the image, an even importance window, more images than a split of known size."""
    app = plain.get("app") or {}
    data = {**train_data, **(plain.get("data") or {})}
    target = str(data.get("_target_", "?"))
    if not target.endswith(IMAGE_DATA):
        raise ConfigError("ckpt_path", plain["ckpt_path"], "a checkpoint of an image model "
                          "(VAE, conv VAE, DCGAN, cGAN)",
                          f"It was trained on `{target}`, which has no images to invert, "
                          "complete or interpolate.")
    if app.get("name") == "arithmetic" and target.endswith("ImageFolderDataModule"):
        raise ConfigError("app", "arithmetic", "invert, complete or interpolate",
                          "Class arithmetic needs labelled data or exemplars; an image folder "
                          "has no labels.")
    side = data_image_side(data)
    box = app.get("box")
    if app.get("mask") == "box" and (box is None or len(box) != 4 or min(box[2:]) < 1 or (
            side and (box[0] + box[2] > side or box[1] + box[3] > side))):
        raise ConfigError("app.box", box, "[top, left, height, width] with height, width ≥ 1 "
                          f"inside the {side or '?'}×{side or '?'} image",
                          "app.mask=box completes the box given by app.box.")
    window = app.get("window")
    if isinstance(window, int) and window % 2 == 0:
        raise ConfigError("app.window", window, "an odd integer ≥ 1 (or null: uniform weights)")
    known = {**idx_split_sizes(data), **known_split_sizes(data)}.get(plain.get("split"))
    if known and isinstance(known[1], int) and plain.get("n", 0) > known[1]:
        source = f"{known[0]} = {known[1]}" if known[0].startswith("data.") else known[0]
        raise ConfigError("n", plain.get("n"), f"at most {known[1]}, the size of the "
                          f"{plain.get('split')} split ({source})")


def idx_split_sizes(data: Mapping) -> dict[str, tuple[str, int]]:
    """An MNIST-like's split sizes from its IDX files' headers (torchvision's layout,
    data/torchvision_sets.py; the image count is the header's first dimension), read
    without torch: split → (where the number comes from, images). {} when the files are
    absent or unreadable (the data module then names the problem)."""
    import struct

    from genlab.config.choices import TORCHVISION_DATASETS

    entry = TORCHVISION_DATASETS.get(str(data.get("dataset")))
    if (not str(data.get("_target_", "")).endswith("TorchvisionDataModule") or entry is None
            or entry[2] == "cifar-10-batches-py" or not data.get("data_dir")):
        return {}
    counts = {}
    for prefix in ("train", "t10k"):
        path = Path(data["data_dir"], entry[2], "raw", f"{prefix}-images-idx3-ubyte")
        try:
            with open(path, "rb") as f:
                header = f.read(8)
        except OSError:
            return {}
        if len(header) < 8 or header[:2] != b"\0\0":
            return {}
        counts[prefix] = (f"the header of {path}", struct.unpack(">I", header[4:8])[0])
    sizes = {"test": counts["t10k"]}
    val = data.get("val_size")
    if isinstance(val, int) and 0 < val < counts["train"][1]:
        sizes["train"] = (f"{counts['train'][0]} minus data.val_size",
                          counts["train"][1] - val)
    return sizes


def _with_placeholder_output_dir(cfg: DictConfig) -> DictConfig:
    """`paths.output_dir` is `${hydra:runtime.output_dir}`, unknown until Hydra makes it."""
    if "output_dir" in (cfg.get("paths") or {}):  # `in`: a key test that resolves nothing
        with open_dict(cfg):
            cfg.paths.output_dir = "<the run directory Hydra makes>"
    return cfg


def check_values(cfg: DictConfig, config_name: str) -> None:
    """Raise for a value of one run's composed config that its command would refuse."""
    # Hydra creates the run directory (named by these keys) before genlab's code runs
    validate_root_keys({key: OmegaConf.select(cfg, key) for key in HYDRA_READS
                        if OmegaConf.select(cfg, key, default=_ABSENT) is not _ABSENT})
    if config_name != CONFIG_NAME:
        check_command_config(resolved(_with_placeholder_output_dir(cfg)), config_name)


def preflight(args: Sequence[str], config_name: str = CONFIG_NAME) -> None:
    """Raise ConfigError if Hydra would refuse this command line for `config_name` (its
    flags, or composing its overrides), or, for genlab-eval/-sample/-fetch, if a value is
    one the command would refuse."""
    flags = hydra_flags(args)
    if flags is None:
        return
    check_flags(flags, args)
    configs = [_composed(overrides, config_name)
               for overrides in runs_to_check(flags, config_name)]
    if flags.cfg or flags.info:  # printing the config: values may still be placeholders
        return
    for cfg in configs:  # every job's values before anything is made
        check_values(cfg, config_name)
    for cfg in configs:  # then prove the locations (this makes them)
        ensure_writable(cfg.paths.log_dir, "paths.log_dir")
        ensure_writable(cfg.paths.cache_dir, "paths.cache_dir")
