"""Preemption on SLURM (`SlurmPreemption`), and Ctrl-C / SIGTERM anywhere (`StopOnSignal`).

On SLURM: on the requeue signal, checkpoint, requeue the job, and stop.

SLURM sends SIGUSR1 some time before the time limit or a preemption (`--signal=USR1@90`;
`scancel --signal=USR1 JOBID` by hand). Lightning's own handler saves the checkpoint inside
the signal handler, at whatever point each rank happens to be — with DDP the ranks can be
in different collectives, and the checkpoint lands mid-epoch, which an ordinary
DataLoader cannot resume exactly. This callback installs its handler first (Lightning then
keeps out) and only raises a flag; the ranks agree on the flag at the end of each training
batch and act together:

- at the end of the epoch, if the rest of the epoch fits in `max_delay_s` (estimated
  from the mean batch time) — the requeued run then continues exactly as if never stopped;
- at the end of the current batch otherwise (Lightning resumes mid-epoch).

Then the W&B run is marked preempting and closed, rank 0 runs `scontrol requeue`, and
every rank waits for SLURM's SIGTERM and exits without reporting a result, so a submitit
job is not collected as finished. The requeued job starts in the same run directory
(genlab/config/naming.py) where Lightning picks up `hpc_ckpt_N.ckpt` by itself.

Ctrl-C (SIGINT), and SIGTERM outside SLURM (`kill`, a container stopping): the same idea
without the requeue. The handler raises a flag; the ranks agree on it at a safe point: the
end of the training epoch when the rest of it fits in `max_delay_s` (the checkpoint is then
the epoch-end state an uninterrupted run saves, so the continued run is exact) or when
the signal came during validation (never cut in half), else the end of the current
training batch (Lightning continues mid-epoch). There `last.ckpt` is written and the run stops with
InterruptedRunError (exit 130 for SIGINT, 143 for SIGTERM), which the trackers record as
a failed finish and the command reports with the command that continues the run
(runtime/stopping.py); the test is skipped. During the test the run stops at the next test
batch (training had ended: its checkpoints are final). A second Ctrl-C stops at once.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.environments import SLURMEnvironment

from genlab.errors import InterruptedRunError

log = logging.getLogger(__name__)


class SlurmPreemption(L.Callback):
    def __init__(self, max_delay_s: float = 30.0, exit_wait_s: float = 300.0) -> None:
        self.max_delay_s = max_delay_s
        self.exit_wait_s = exit_wait_s
        self.signalled = False
        self._active = False
        self._batch_times: list[float] = []
        self._t_batch = 0.0

    # --- signal ---------------------------------------------------------------------------
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        env = trainer._accelerator_connector.cluster_environment
        self._active = stage == "fit" and isinstance(env, SLURMEnvironment)
        if self._active:
            # before Trainer registers its own handler, which it then leaves out
            signum = env.requeue_signal or signal.SIGUSR1
            signal.signal(signum, self._on_signal)
            log.info("SLURMEnvironment: job %s, rank %d of %d; checkpoint and requeue on %s",
                     env.job_id(), env.global_rank(), env.world_size(), signum.name)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        log.info("received signal %s: checkpoint and requeue at the next safe point", signum)
        self.signalled = True

    # --- deciding when --------------------------------------------------------------------
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._t_batch = time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self._active:
            return
        self._batch_times = [*self._batch_times[-49:], time.monotonic() - self._t_batch]
        left = trainer.num_training_batches - batch_idx - 1
        too_long = left * sum(self._batch_times) / len(self._batch_times) > self.max_delay_s
        signalled, too_long = _any_rank(trainer, self.signalled, too_long)
        if signalled:
            self.signalled = True
            if too_long:
                self._checkpoint_requeue_exit(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._active and _any_rank(trainer, self.signalled, False)[0]:
            self._checkpoint_requeue_exit(trainer)

    # --- acting ---------------------------------------------------------------------------
    def _checkpoint_requeue_exit(self, trainer: L.Trainer) -> None:
        connector = trainer._checkpoint_connector
        path = connector.hpc_save_path(trainer.default_root_dir)
        trainer.save_checkpoint(path)
        # Every rank says so before the requeue: once rank 0 has run `scontrol requeue`,
        # SLURM's SIGTERM can reach another node's rank before the broadcast below does,
        # and a line logged after it would then be missing from that rank (seen in CI).
        log.info("rank %d: checkpoint %s written, requeueing the job",
                 trainer.global_rank, path)
        # From here SIGTERM means "requeued: stop" on every rank. The handler only records
        # it (it may arrive mid-broadcast); we exit once the job is requeued.
        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        # The trackers are closed *before* the requeue: SLURM's SIGTERM after a requeue also
        # reaches W&B's service process, and a finish it cut short raised
        # ConnectionResetError, which made this rank return a failed result for a job that
        # goes on (seen in CI: the sweep then counted the trial as failed).
        _close_loggers(trainer)
        try:
            requeued = trainer.strategy.broadcast(_requeue() if trainer.is_global_zero
                                                  else None)
        except BaseException:  # rank 0 may have requeued: never return a result
            log.exception("the requeue broadcast failed; waiting for SLURM to stop us")
            _wait_for(stop, self.exit_wait_s)
        if not requeued:
            signal.signal(signal.SIGTERM, previous)
            _reopen_loggers(trainer)
            log.warning("requeue failed; training goes on (checkpoint kept at %s)", path)
            self.signalled = False
            return
        log.info("job requeued; waiting for SLURM to stop us")
        _wait_for(stop, self.exit_wait_s)


def _any_rank(trainer: L.Trainer, *flags: bool) -> list[bool]:
    values = torch.tensor([float(f) for f in flags])
    if trainer.world_size > 1 and torch.distributed.is_initialized():
        torch.distributed.all_reduce(values, op=torch.distributed.ReduceOp.MAX)
    return [bool(v) for v in values]


def _requeue() -> bool:
    array_id = os.environ.get("SLURM_ARRAY_JOB_ID")
    job = f"{array_id}_{os.environ['SLURM_ARRAY_TASK_ID']}" if array_id \
        else os.environ["SLURM_JOB_ID"]
    done = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True)
    if done.returncode != 0:
        log.warning("scontrol requeue %s: %s", job, done.stderr.strip())
    return done.returncode == 0


def _close_loggers(trainer: L.Trainer) -> None:
    """Finalize every logger and finish the W&B run marked as preempting. A tracker that
    fails to close is a warning: the checkpoint is written and the requeued job continues
    the same W&B run, so nothing here may stop the requeue."""
    from lightning.pytorch.loggers import WandbLogger

    for logger in trainer.loggers:
        try:
            logger.finalize("preempted")
            if isinstance(logger, WandbLogger) and logger._experiment is not None:
                logger.experiment.mark_preempting()
                logger.experiment.finish(exit_code=0)
        except Exception as err:
            log.warning("%s did not close before the requeue (%s: %s); the requeued job "
                        "continues its run", type(logger).__name__, type(err).__name__, err)


def _reopen_loggers(trainer: L.Trainer) -> None:
    """After a failed requeue, training goes on: the W&B logger starts its run again on
    next use, with the same id (`resume="allow"`, runtime/resume.py). `_experiment` is
    WandbLogger's private handle (checked on Lightning 2.6.6; tested in
    tests/test_preemption_close.py)."""
    from lightning.pytorch.loggers import WandbLogger

    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            logger._experiment = None


def _wait_for(stop: threading.Event, timeout_s: float) -> None:
    """Exit once SLURM's SIGTERM has come (or after timeout_s) without running exit
    handlers: the task must not return, or submitit would record a result for a job that
    goes on."""
    stop.wait(timeout_s)
    os._exit(0)


class StopOnSignal(L.Callback):
    """Ctrl-C and (`sigterm=True`: outside SLURM) SIGTERM: a final checkpoint at the next
    safe point, then InterruptedRunError (see the module docstring)."""

    def __init__(self, sigterm: bool = True, max_delay_s: float = 10.0) -> None:
        self.signals = (signal.SIGINT, signal.SIGTERM) if sigterm else (signal.SIGINT,)
        self.max_delay_s = max_delay_s
        self._epoch_started = 0.0
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}
        self._active = False
        self._trainer: L.Trainer | None = None
        self._in_validation = False
        self._when = "during training"

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        # a signal not yet acted on (it came after fit's last safe point) stops the test
        self._active, self._trainer = True, trainer
        self._previous = {s: signal.signal(s, self._on_signal) for s in self.signals}

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.signum is not None or not self._active:  # again, or after fit/test
            previous = self._previous.get(signum)
            if callable(previous):
                previous(signum, frame)
            raise KeyboardInterrupt
        self.signum = signum
        self._when = "during validation" if self._in_validation else "during training"
        if signum == signal.SIGTERM and self._trainer is not None:
            # Lightning's own SIGTERM handler runs first and would raise SIGTERMException
            # at this batch's end (mid-validation too); this callback picks the safe point
            self._trainer._signal_connector.received_sigterm = False
        os.write(2, (f"\n{signal.Signals(signum).name}: stopping with a final checkpoint at "
                     "the next safe point (this batch's end, or this epoch's if it ends "
                     "soon); Ctrl-C again stops at once, without one\n").encode())

    def _restore(self) -> None:
        if self._active:
            for signum, handler in self._previous.items():
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._active = False

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._restore()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule,
                     exception: BaseException) -> None:
        self._restore()

    # --- safe points ----------------------------------------------------------------------
    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._in_validation = True

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._in_validation = False

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_started = time.monotonic()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self._signalled(trainer):
            return
        per_batch = (time.monotonic() - self._epoch_started) / (batch_idx + 1)
        rest_s = (trainer.num_training_batches - batch_idx - 1) * per_batch
        if trainer.strategy.reduce_boolean_decision(rest_s > self.max_delay_s, all=False):
            self._checkpoint_and_stop(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._signalled(trainer):
            self._checkpoint_and_stop(trainer)

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx,
                          dataloader_idx: int = 0) -> None:
        if self._signalled(trainer):
            raise InterruptedRunError(
                f"Interrupted by {_name(self._signum())} during the test: training had "
                "finished and its checkpoints are final, but the test was not completed "
                "(no metrics.json).", self._signum())

    def _signalled(self, trainer: L.Trainer) -> bool:
        if trainer.world_size > 1:  # every rank stops at the same batch
            return bool(trainer.strategy.reduce_boolean_decision(self.signum is not None,
                                                                 all=False))
        return self.signum is not None

    def _signum(self) -> int:
        return self.signum or signal.SIGINT  # a rank that was not signalled itself

    def _checkpoint_and_stop(self, trainer: L.Trainer) -> None:
        from genlab.callbacks.checkpoints import final_checkpoint_path
        from genlab.callbacks.history import logging_step
        from genlab.callbacks.nan_guard import check_weights

        path = final_checkpoint_path(trainer)
        check_weights(trainer.lightning_module, logging_step(trainer))
        # the full state (optimisers, loops), to continue; explicit, or Lightning logs an INFO
        trainer.save_checkpoint(path, weights_only=False)
        raise InterruptedRunError(
            f"Interrupted by {_name(self._signum())} {self._when} (epoch "
            f"{trainer.current_epoch}, "
            f"step {logging_step(trainer)}): a final checkpoint was written and the test was "
            "skipped.", self._signum())


def _name(signum: int) -> str:
    return "Ctrl-C (SIGINT)" if signum == signal.SIGINT else signal.Signals(signum).name
