"""genlab.runtime.environment: Lightning's NVML-based CUDA check is dropped only where NVML is
absent, and then optimizer steps stop probing NVML."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from genlab.runtime import environment as cuda_probe


def test_kept_where_nvml_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cuda_probe.VARIABLE, "1")
    monkeypatch.setattr(ctypes, "CDLL", lambda name: object())
    assert cuda_probe.drop_nvml_check_without_nvml() is False
    assert cuda_probe.VARIABLE in os.environ


def test_dropped_where_nvml_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setenv(cuda_probe.VARIABLE, "1")
    monkeypatch.setattr(ctypes, "CDLL", missing)
    assert cuda_probe.drop_nvml_check_without_nvml() is True
    assert cuda_probe.VARIABLE not in os.environ
    assert cuda_probe.drop_nvml_check_without_nvml() is False  # nothing left to drop


PROBES_PER_STEP = """
import torch, lightning  # lightning sets the variable
from genlab.runtime.environment import drop_nvml_check_without_nvml, nvml_loadable
available = torch.cuda.is_available()
calls = 0
original = torch.cuda._raw_device_count_nvml
def counted():
    global calls
    calls += 1
    return original()
torch.cuda._raw_device_count_nvml = counted
p = torch.nn.Parameter(torch.zeros(3))
opt = torch.optim.Adam([p])
p.grad = torch.ones(3)
for _ in range(5):
    opt.step()
before, calls = calls, 0
dropped = drop_nvml_check_without_nvml()
for _ in range(5):
    opt.step()
print(nvml_loadable(), dropped, before, calls, available == torch.cuda.is_available())
"""


def test_optimizer_steps_stop_probing_nvml_after_the_drop() -> None:
    out = subprocess.run([sys.executable, "-c", PROBES_PER_STEP], capture_output=True,
                         text=True, check=True).stdout.split()
    if out[0] == "True":
        pytest.skip("NVML loads on this machine: the variable is kept (tested above)")
    assert out[1:] == ["True", "5", "0", "True"]  # one NVML probe per step before, none after
