"""The old home of AtomicCheckpointIO: configs saved before genlab/runtime/ existed name
`genlab.checkpointing.AtomicCheckpointIO` in `trainer.plugins`, and still load."""

from genlab.runtime.checkpoints import AtomicCheckpointIO

__all__ = ["AtomicCheckpointIO"]
