"""Sweeps: multirun naming, failed trials, the offline sweep summary and `genlab-compare`."""
