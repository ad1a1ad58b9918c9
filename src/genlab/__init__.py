"""genlab: a research framework for generative models.

Importing the package is cheap on purpose: torch and Lightning are imported only by the
modules that need them, so `genlab-train --help` and config errors answer fast.
"""

__version__ = "0.1.0"
