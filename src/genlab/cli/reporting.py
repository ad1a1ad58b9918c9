"""The commands' one error reporter: what every genlab command does with a GenlabError:
print its one paragraph and exit with its code (set HYDRA_FULL_ERROR=1 for the traceback)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from genlab.console import print_error
from genlab.errors import GenlabError


@contextlib.contextmanager
def reported_errors() -> Iterator[None]:
    try:
        yield
    except GenlabError as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print_error(str(err))
        sys.exit(err.exit_code)


def command_main(hydra_main: Callable[[], Any], config_name: str) -> None:
    """A console script's body: check the command line against `config_name` (Hydra's
    flags, the overrides, and for genlab-eval/-sample/-fetch the values) so that a mistake
    gets genlab's one-paragraph error and exit code 2, not Hydra's; then run Hydra."""
    from genlab.config.preflight import preflight

    answer_version(sys.argv[1:])
    with reported_errors():
        preflight(sys.argv[1:], config_name)
    hydra_main()


def answer_version(args: list[str]) -> None:
    """`--version`: genlab's version and its libraries', exit 0 (Hydra would print its own,
    "Hydra 1.3.8")."""
    if "--version" in args:
        print(versions())
        sys.exit(0)


def versions() -> str:
    """"genlab 0.1.0 (torch …, lightning …, hydra-core …, …)" from the installed metadata
    (no import of torch)."""
    from importlib.metadata import PackageNotFoundError, version

    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    libraries = ("torch", "torchvision", "lightning", "hydra-core", "omegaconf", "torchmetrics",
                 "torch-fidelity", "wandb")
    return f"genlab {of('genlab')} ({', '.join(f'{n} {of(n)}' for n in libraries)})"


def run_reporting_errors(run: Callable[[Any], Any], cfg: Any) -> Any:
    """genlab-eval/-sample/-fetch's job: the pre-flight's value checks again (a sweep's
    jobs, `-m`, are composed by Hydra after the pre-flight), then `run(cfg)`."""
    from hydra.core.hydra_config import HydraConfig

    from genlab.config.instantiate import resolved
    from genlab.config.preflight import check_command_config

    with reported_errors():
        if HydraConfig.initialized():
            check_command_config(resolved(cfg), HydraConfig.get().job.config_name)
        return run(cfg)
