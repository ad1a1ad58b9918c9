"""Preemption on SLURM: on the requeue signal, checkpoint, requeue the job, and stop.

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

Then rank 0 runs `scontrol requeue`, the W&B run is marked preempting and closed, and
every rank waits for SLURM's SIGTERM and exits without reporting a result, so a submitit
job is not collected as finished. The requeued job starts in the same run directory
(genlab/config/naming.py) where Lightning picks up `hpc_ckpt_N.ckpt` by itself.
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
        # it (it may arrive mid-broadcast, or while W&B closes its run); we exit once the
        # loggers are closed.
        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        requeued = trainer.strategy.broadcast(_requeue() if trainer.is_global_zero else None)
        if not requeued:
            signal.signal(signal.SIGTERM, previous)
            log.warning("requeue failed; training goes on (checkpoint kept at %s)", path)
            self.signalled = False
            return
        log.info("job requeued; waiting for SLURM to stop us")
        _close_loggers(trainer)
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
    from lightning.pytorch.loggers import WandbLogger

    for logger in trainer.loggers:
        logger.finalize("preempted")
        if isinstance(logger, WandbLogger) and logger._experiment is not None:
            logger.experiment.mark_preempting()
            logger.experiment.finish(exit_code=0)


def _wait_for(stop: threading.Event, timeout_s: float) -> None:
    """Exit once SLURM's SIGTERM has come (or after timeout_s) without running exit
    handlers: the task must not return, or submitit would record a result for a job that
    goes on."""
    stop.wait(timeout_s)
    os._exit(0)
