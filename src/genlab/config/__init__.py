"""The configuration layer, torch-free: where the configs live and the resolvers they use
(here), each class's keys declared in its signature (`keys`: Hydra nodes of their defaults
registered here), the pre-flight of command-line overrides (`preflight`), validation
(`schema`, with the cross-field `rules`),
redaction of secrets (`redaction`), run and sweep names (`naming`) and building objects from
`_target_` with genlab's errors (`instantiate`). Importing it imports no torch (tested)."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from omegaconf import OmegaConf

from genlab.config.naming import run_dir_name, sweep_dir_name, wandb_group, wandb_run_name

# One id per process, fixed at import: Hydra may resolve the run dir more than once, and
# every resolution must give the same directory. time_ns + pid + random bits keep dirs
# unique when many jobs start in the same second on one or many hosts.
RUN_ID = f"{time.time_ns() % 10**9:09d}-{os.getpid()}-{secrets.token_hex(2)}"


def config_dir() -> Path:
    """The `conf/` directory shipped inside the package (in a source checkout, the symlink
    src/genlab/conf → conf/)."""
    return Path(__file__).resolve().parent.parent / "conf"


def register_resolvers() -> None:
    # cached: Hydra copies the cache into each sweep job's config, so a submitit job (which
    # unpickles it in another process) resolves the same sweep dir as the submitting process
    if not OmegaConf.has_resolver("genlab_run_id"):
        OmegaConf.register_new_resolver("genlab_run_id", lambda: RUN_ID, use_cache=True)
    if not OmegaConf.has_resolver("genlab_run_name"):
        OmegaConf.register_new_resolver(
            "genlab_run_name", lambda run_id=None: run_dir_name(run_id, RUN_ID), use_cache=True)
    if not OmegaConf.has_resolver("genlab_sweep_name"):  # sweep.name=NAME fixes it
        OmegaConf.register_new_resolver(
            "genlab_sweep_name", lambda name=None: sweep_dir_name(name, RUN_ID), use_cache=True)
    if not OmegaConf.has_resolver("genlab_wandb_group"):  # the sweep's name in a multirun
        OmegaConf.register_new_resolver("genlab_wandb_group", wandb_group)
    if not OmegaConf.has_resolver("genlab_wandb_name"):  # + the job's overrides in a multirun
        OmegaConf.register_new_resolver("genlab_wandb_name", wandb_run_name)
    if not OmegaConf.has_resolver("genlab_budget"):  # a schedule's length (model/scheduler)
        OmegaConf.register_new_resolver("genlab_budget", budget)
    if not OmegaConf.has_resolver("genlab_help"):  # a command's --help (command_help.py)
        OmegaConf.register_new_resolver("genlab_help", _command_help)


def budget(max_epochs: int | None, max_steps: int | None, what: str) -> int | str | None:
    """The run's training budget, for a schedule that spans it: `what="length"` → its
    length, `what="unit"` → `epoch` or `step`. Epochs (trainer.max_epochs) unless the run is
    bounded by optimizer steps only (max_epochs = -1 or null, max_steps > 0). With neither
    bound the length is max_epochs as given, which the schema refuses as a schedule length."""
    by_steps = (max_epochs is None or max_epochs < 0) and (max_steps or 0) > 0
    if what == "unit":
        return "step" if by_steps else "epoch"
    return max_steps if by_steps else max_epochs


def _command_help(command: str, *, _root_: object) -> str:
    from genlab.config.command_help import command_help

    return command_help(command, _root_, config_dir())


def register_key_nodes() -> None:
    """Each declaring class's defaults as a Hydra node `keys/<_target_>` (config/keys.py)."""
    from genlab.config.keys import register_nodes

    register_nodes()


register_resolvers()
register_key_nodes()
