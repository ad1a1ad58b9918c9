"""When a periodic callback acts: every N epochs and at the end of fit, whichever of
`trainer.max_epochs`, `trainer.max_steps` or an early stop ends it.

One gate for every periodic callback (the sample-quality suite, the image grids, the GAN
plots, `last.ckpt`). Lightning reports `max_epochs = -1` when a run sets only `max_steps`
(and `max_steps = -1` when it sets only `max_epochs`), so neither bound alone says which
epoch is the last.

"The last" means that the hook now running is not called again in this fit, which
depends on the hook:
- at the end of a training epoch (`on_train_epoch_end`): fit stops after this epoch, i.e.
  `max_epochs` epochs are done or `global_step` has reached `max_steps`. An epoch that
  `max_steps` cuts short still ends with this hook;
- at validation (`on_validation_epoch_end`, `on_validation_end`): no later validation
  runs. Lightning validates at the end of every `check_val_every_n_epoch`-th epoch but
  not an epoch that `max_steps` cuts short: it checks `global_step >= max_steps` between
  batches, so the next validated epoch is validated when its last batch starts below
  max_steps. That needs the optimizer steps per batch: Lightning counts `max_steps` in
  optimizer steps (a GAN steps its discriminator on every batch and its generator on
  some), so the steps before that batch are predicted from this fit's own ratio of steps
  to batches (`global_step` over the batches run) — exact when every batch makes the
  same number of steps, and right to the step for the GAN's alternating ones.
"""

from __future__ import annotations

import math
from fractions import Fraction

import lightning as L


def epoch_due(trainer: L.Trainer, every_n_epochs: int) -> bool:
    """Act in this epoch? Every `every_n_epochs`-th epoch (1-based) and the last one (see
    `final_epoch`); never while sanity checking or when every_n_epochs ≤ 0. The same
    answer on every rank."""
    if trainer.sanity_checking or every_n_epochs <= 0:
        return False
    return (trainer.current_epoch + 1) % every_n_epochs == 0 or final_epoch(trainer)


def picture_due(trainer: L.Trainer, every_n_epochs: int) -> bool:
    """`epoch_due` on rank 0, the one rank that writes pictures."""
    return trainer.is_global_zero and epoch_due(trainer, every_n_epochs)


def final_epoch(trainer: L.Trainer) -> bool:
    """True when the running hook (validation or training-epoch end) is not called again
    in this fit: max_epochs, max_steps or both run out, or a callback asked to stop."""
    if trainer.should_stop:
        return True
    # the next call: the next validated epoch's validation, or the next epoch's end
    gap = (trainer.check_val_every_n_epoch or 1) if trainer.validating else 1
    max_epochs = trainer.max_epochs
    if max_epochs is not None and 0 <= max_epochs <= trainer.current_epoch + gap:
        return True
    max_steps = trainer.max_steps
    if max_steps is None or max_steps < 0:
        return False
    if trainer.global_step >= max_steps:
        return True
    return trainer.validating and _steps_before_last_batch(trainer, gap) >= max_steps


def _steps_before_last_batch(trainer: L.Trainer, epochs_ahead: int) -> Fraction:
    """Optimizer steps this fit will have made when the last batch of the epoch
    `epochs_ahead` after the current one starts, at its steps-per-batch ratio so far (exact
    arithmetic). Without that ratio (no batch run yet, data without a length) the steps
    made so far, a lower bound."""
    batches_per_epoch = trainer.num_training_batches
    progress = trainer.fit_loop.epoch_loop.batch_progress
    run = progress.total.completed  # batches run in this fit (restored on resume)
    if not math.isfinite(batches_per_epoch) or run == 0:
        return Fraction(trainer.global_step)
    ahead = batches_per_epoch - progress.current.completed + epochs_ahead * batches_per_epoch
    return Fraction(trainer.global_step * (run + ahead - 1), run)
