"""Drop Lightning's NVML-based CUDA check on machines that have no NVML.

`import lightning` sets `PYTORCH_NVML_BASED_CUDA_CHECK=1`, so that
`torch.cuda.is_available()` asks NVML how many GPUs there are instead of initialising CUDA
(which would poison processes forked later). torch.optim asks `is_available()` in every
`optimizer.step()`. Where `libnvidia-ml.so.1` cannot be loaded — a CPU-only machine with a
CUDA build of torch — each of those calls tries to dlopen the library, fails, and falls back
to `cudaGetDeviceCount` anyway: the same answer and the same fork behaviour as without the
variable, plus about 0.1 ms per optimizer step (0.18 vs 0.06 ms for an Adam step of one
small tensor on this 2-core machine, ~5 % of the default VAE's step). Neither library offers
a switch for it, so genlab unsets the variable in exactly that case, after Lightning is
imported. Where NVML loads, the variable stays.
"""

from __future__ import annotations

import ctypes
import os

VARIABLE = "PYTORCH_NVML_BASED_CUDA_CHECK"
NVML_LIBRARY = "libnvidia-ml.so.1"  # the name torch.cuda's NVML probe loads


def nvml_loadable() -> bool:
    try:
        ctypes.CDLL(NVML_LIBRARY)
    except OSError:
        return False
    return True


def drop_nvml_check_without_nvml() -> bool:
    """Unset PYTORCH_NVML_BASED_CUDA_CHECK when NVML cannot be loaded; True if it was."""
    if os.environ.get(VARIABLE) != "1" or nvml_loadable():
        return False
    del os.environ[VARIABLE]
    return True
