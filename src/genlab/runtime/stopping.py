"""A run that stops before its end (a failed write, Ctrl-C, SIGTERM) says so in one
paragraph: what happened, what is on disk, and the exact command that continues it.

Signals: inside fit and test, Ctrl-C (SIGINT) and SIGTERM (outside SLURM, whose SIGTERM
belongs to the preemption callback) only raise a flag that the StopOnSignal callback acts
on at a safe point (a final checkpoint during fit, then InterruptedRunError;
genlab/callbacks/preemption.py). Outside them (building the data and the model, writing
the final record) `signals_stop_the_run` turns them into InterruptedRunError at once; a
second Ctrl-C inside fit stops at once too (no final checkpoint). Exit code 128 + the
signal's number: 130 for SIGINT, 143 for SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from genlab import run_dir
from genlab.errors import InterruptedRunError, WriteFailedError


def how_to_continue(output_dir: Path) -> str:
    """The sentence naming the run's newest complete checkpoint and the command that
    continues the run from it (in place: same directory, history and trackers)."""
    last = run_dir.last_checkpoint(output_dir)
    if last is None:
        return "No checkpoint of this run was written yet: once fixed, run the command again."
    again = (f", or rerun the same command with `run_id={output_dir.name} resume=auto`"
             if output_dir.parent.name == "runs" else "")
    return (f"The newest complete checkpoint is {last}: continue the run with "
            f"`genlab-train ckpt_path={last}` (it continues in place){again}.")


class SignalStop(BaseException):
    """SIGTERM outside the training loops (a BaseException, like KeyboardInterrupt, so that
    no `except Exception` on the way swallows or rewraps it)."""

    def __init__(self, signum: int) -> None:
        self.signum, self.exit_code = signum, 128 + signum
        super().__init__(signum)


def lightning_exit(trainer: Any, err: SystemExit) -> BaseException:
    """What a SystemExit out of trainer.fit/test means: Lightning turns Ctrl-C into
    `sys.exit(1)` ("Detected KeyboardInterrupt, attempting graceful shutdown") and SIGTERM
    into SIGTERMException; anything else is passed on."""
    if type(err).__name__ == "SIGTERMException":
        return SignalStop(signal.SIGTERM)
    if getattr(trainer, "interrupted", False):
        return KeyboardInterrupt()
    return err


def _raise_stop(signum: int, _frame: object) -> None:
    raise SignalStop(signum)


def signal_name(signum: int) -> str:
    return "Ctrl-C (SIGINT)" if signum == signal.SIGINT else signal.Signals(signum).name


@contextlib.contextmanager
def signals_stop_the_run(output_dir: Path) -> Iterator[None]:
    """The run's block: a failed write or a signal ends it as one GenlabError paragraph
    that also says how to continue the run."""
    main = threading.current_thread() is threading.main_thread()
    # Lightning ignores SIGINT after a KeyboardInterrupt and never restores it
    previous = {signal.SIGINT: signal.getsignal(signal.SIGINT)} if main else {}
    if main and "SLURM_JOB_ID" not in os.environ:  # SLURM's SIGTERM: callbacks/preemption.py
        previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        yield
    except InterruptedRunError as err:  # the callback's, at a batch end: checkpoint written
        raise InterruptedRunError(f"{err} {how_to_continue(output_dir)}", err.signum) from err
    except (KeyboardInterrupt, SignalStop) as err:
        signum = getattr(err, "signum", signal.SIGINT)
        raise InterruptedRunError(
            f"Interrupted by {signal_name(signum)} at once (outside the training batches, "
            "or a second Ctrl-C): no final checkpoint was written then and nothing was "
            f"tested. {how_to_continue(output_dir)}",
            signum) from err
    except WriteFailedError as err:
        raise WriteFailedError(f"{err} {how_to_continue(output_dir)}") from err
    except OSError as err:
        if err.errno not in run_dir.WRITE_ERRNOS:
            raise
        failed = run_dir.why_write_failed(err.filename or output_dir, err)
        raise WriteFailedError(f"{failed} {how_to_continue(output_dir)}") from err
    finally:
        for signum, handler in previous.items():
            if handler is not None:
                signal.signal(signum, handler)
