"""What every genlab command does with a GenlabError: print its one paragraph and exit
with its code (set HYDRA_FULL_ERROR=1 for the traceback)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from genlab.console import print_error
from genlab.errors import GenlabError


def run_reporting_errors(run: Callable[[Any], Any], cfg: Any) -> Any:
    try:
        return run(cfg)
    except GenlabError as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print_error(str(err))
        sys.exit(err.exit_code)
