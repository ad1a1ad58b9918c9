"""Per-step training metrics only on the steps Lightning writes them.

Lightning writes `on_step` values every `trainer.log_every_n_steps`; each `self.log` call
on the other steps still costs ~0.1 ms per value (its result collection moves and copies
metadata), which was 40 % of a VAE step on digits (benchmarks/README.md). The values
written are the same either way (tests/test_step_logging.py).
"""

from __future__ import annotations

import lightning as L


def logs_this_step(module: L.LightningModule) -> bool:
    """True when Lightning will write this training step's on_step metrics."""
    trainer = module._trainer
    if trainer is None:
        return True
    # a private attribute (no public accessor; checked on Lightning 2.6.6):
    # tests/test_step_logging.py fails when it no longer matches what the loggers get
    return trainer._logger_connector.should_update_logs
