"""Objectives as LightningModules. Hyper-parameters are plain data (dicts, lists, numbers,
strings): nets, optimisers and schedulers are built from their config dicts inside the
module, so every checkpoint loads with `torch.load(weights_only=True)`."""
