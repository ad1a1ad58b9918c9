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
    """A console script's body: check the command line's overrides of `config_name` (a
    typo gets genlab's one-paragraph error and exit code 2, not Hydra's), then run Hydra."""
    from genlab.config.preflight import preflight

    with reported_errors():
        preflight(sys.argv[1:], config_name)
    hydra_main()


def run_reporting_errors(run: Callable[[Any], Any], cfg: Any) -> Any:
    with reported_errors():
        return run(cfg)
