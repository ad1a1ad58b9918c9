"""Pre-flight check of command-line overrides, before Hydra runs the job.

Hydra reports a mistyped key or option with its own message and exit code 1, without
saying what was meant. Composing the config once here (milliseconds, no torch) lets genlab
answer the same mistakes as every other config error: one paragraph naming the key, what
is allowed and the nearest valid name, exit code 2.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf

from genlab.config import config_dir
from genlab.config.schema import HYDRA_READS, near_miss, validate_root_keys
from genlab.errors import ConfigError
from genlab.run_dir import ensure_writable

CONFIG_NAME = "train"  # genlab-train's; genlab-eval/-sample/-fetch pass their own
# the one hydra.* key that changes what composes: config groups from outside the package
SEARCHPATH = "hydra.searchpath"
_ABSENT = object()


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def checkable(args: Sequence[str]) -> list[str] | None:
    """The overrides to pre-check, or None when the command line is not a plain single run
    (flags such as -m/--cfg/--help, or sweep syntax, are left to Hydra)."""
    if any(a.startswith("-") for a in args):
        return None
    return [a for a in args if not _key(a).startswith("hydra") or _key(a) == SEARCHPATH]


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


def preflight(args: Sequence[str], config_name: str = CONFIG_NAME) -> None:
    """Raise ConfigError if Hydra would refuse to compose these overrides of `config_name`."""
    overrides = checkable(args)
    if overrides is None:
        return
    try:
        cfg = _compose(overrides, config_name)
    except OverrideParseException as err:
        raise ConfigError("command line", " ".join(overrides),
                          "Hydra overrides such as key=value, group=option, +new_key=value",
                          str(err).splitlines()[0]) from None
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
    # Hydra creates the run directory (named by these keys) before genlab's code runs:
    # check them and prove the locations first
    validate_root_keys({key: OmegaConf.select(cfg, key) for key in HYDRA_READS
                        if OmegaConf.select(cfg, key, default=_ABSENT) is not _ABSENT})
    ensure_writable(cfg.paths.log_dir, "paths.log_dir")
    ensure_writable(cfg.paths.cache_dir, "paths.cache_dir")
