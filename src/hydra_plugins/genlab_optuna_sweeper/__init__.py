"""genlab's Optuna sweeper for Hydra (`hydra/sweeper=genlab_optuna`), on current Optuna.

Lives in the `hydra_plugins` namespace because Hydra only instantiates sweepers from there.
"""
