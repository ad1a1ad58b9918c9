"""Building objects from `_target_` nodes, and resolving a config, with genlab's errors:
a value a library refuses, or an interpolation that does not resolve, is a ConfigError
naming the key. Imports Hydra, not torch (the classes it builds import what they need)."""

from __future__ import annotations

import re
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from genlab.errors import ConfigError, GenlabError, ParameterError, RefusedConfigError


def instantiate(cfg: Any, key: str | None = None, **kwargs: Any) -> Any:
    """hydra.utils.instantiate that lets genlab's own errors through unwrapped, and reports
    a library's refusal of a config value (Lightning's MisconfigurationException, an
    unexpected keyword) as a ConfigError naming the key. A class's ParameterError gets the
    key of the node it was built from in front: `key` (relative to the caller's own node,
    e.g. a model building its `encoder`), else the node's full key in the config."""
    from hydra.errors import InstantiationException

    try:
        return hydra.utils.instantiate(cfg, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        while cause is not None and not isinstance(cause, GenlabError):
            cause = cause.__cause__
        node_key = key or _full_key(err)
        if isinstance(cause, ParameterError) and node_key:
            raise cause.under(node_key) from None
        if cause is not None:
            raise cause from None
        refused = _refused_value(err)
        if refused is not None:
            raise refused from err
        raise


def _full_key(err: Exception) -> str | None:
    """The config key of the node Hydra failed to build (absent for a plain dict)."""
    match = re.search(r"full_key: (\S+)", str(err))
    return match[1] if match else None


def _refused_value(err: Exception) -> ConfigError | None:
    """The ConfigError for an InstantiationException whose cause is a library rejecting a
    value or a key, else None."""
    cause = err.__cause__
    key = _full_key(err) or "config"
    message = str(cause).strip().splitlines()[0] if cause is not None else ""
    show = "The command's `--cfg job` prints the composed config."
    if type(cause).__name__ == "MisconfigurationException":
        return RefusedConfigError(key, f"Lightning refused it: {message}", show)
    unexpected = re.search(r"unexpected keyword argument '(\w+)'", message)
    if isinstance(cause, TypeError) and unexpected:
        target = message.split("(")[0].strip().removesuffix(".__init__")
        return RefusedConfigError(f"{key}.{unexpected.group(1)}",
                                  f"{target} has no parameter `{unexpected.group(1)}`", show)
    return None


def resolved(cfg: DictConfig) -> dict:
    """The config as plain data with every interpolation resolved, or a ConfigError."""
    from omegaconf.errors import OmegaConfBaseException

    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "config"
        raise ConfigError(key, "an interpolation", "a value that resolves",
                          str(err).splitlines()[0]) from None
