"""Speed options as config: channels_last memory format, torch.compile of the nets (with a
fallback to eager and a warning where compilation fails), matmul precision.

`channels_last: auto` (the default) stores an image model's weights in NHWC when it
trains on the CPU and has convolutions: oneDNN's convolutions run faster on NHWC. Measured
on 2 EPYC cores, torch 2.14 (benchmarks/README.md): conv VAE training step on MNIST 1.22×,
its IWAE decoder 1.73×, DCGAN step at 32×32 1.17×. On a GPU `auto` leaves the layout
alone (not measured by genlab: set `true` for tensor-core AMP, as NVIDIA advises).

Lightning covers precision (`trainer.precision=bf16-mixed`) and cuDNN autotuning
(`trainer.benchmark=true`); these three it leaves to the user, so genlab sets them here.
Compilation uses each net's own `forward` replacement, so state_dict keys (and thus
checkpoints) are the same compiled or not.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Annotated, Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn

from genlab.config.keys import Key, check


class PerformanceOptions(Callback):
    def __init__(
        self,
        channels_last: Annotated[bool | str, Key(
            "NHWC weights: auto = on the CPU for conv nets (faster there); true | false to "
            "choose (true: GPU + AMP + conv nets)", kind="bool_or_auto")] = "auto",
        compile: Annotated[bool, Key("torch.compile each net (falls back to eager with a "
                                     "warning)")] = False,
        compile_mode: Annotated[str | None, Key(
            "torch.compile's mode (null: its default)",
            choices=("default", "reduce-overhead", "max-autotune"))] = None,
        backend: Annotated[str | Callable, Key("torch.compile's backend", kind="str")
                           ] = "inductor",
        matmul_precision: Annotated[str | None, Key(
            "float32 matmul precision (TF32 on Ampere+ at high/medium; null: torch's)",
            choices=("highest", "high", "medium"))] = None,
    ) -> None:
        check("genlab.callbacks.performance.PerformanceOptions", locals())
        self.channels_last, self.compile = channels_last, compile
        self.compile_mode, self.backend = compile_mode, backend
        self.matmul_precision = matmul_precision

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.matmul_precision:
            torch.set_float32_matmul_precision(self.matmul_precision)
        if use_channels_last(self.channels_last, trainer, pl_module):
            pl_module.to(memory_format=torch.channels_last)
        if self.compile and stage == "fit":
            for name, net in pl_module.named_children():
                if any(p.requires_grad for p in net.parameters()):
                    compile_with_fallback(net, name, self.backend, self.compile_mode)


def use_channels_last(option: bool | str, trainer: L.Trainer | None,
                      module: nn.Module) -> bool:
    """Whether `module` (a genlab model, with `data_shape`) goes NHWC under `option`:
    never for non-image data; `auto`: on the CPU, for a model with convolutions."""
    if len(getattr(module, "data_shape", ())) != 3:
        return False
    if option != "auto":
        return bool(option)
    on_cpu = trainer is not None and trainer.strategy.root_device.type == "cpu"
    return on_cpu and any(isinstance(m, nn.modules.conv._ConvNd) for m in module.modules())


def compile_with_fallback(net: torch.nn.Module, name: str, backend: Any,
                          mode: str | None) -> None:
    """Replace net.forward by its torch.compile'd version; if compiling (which happens at
    the first call) fails, warn once and run eager from then on."""
    eager = net.forward
    try:
        compiled = torch.compile(eager, backend=backend, mode=mode)
    except Exception as err:  # unknown backend, unsupported platform
        warnings.warn(f"torch.compile of `{name}` failed ({err!s:.200}); running eager.",
                      stacklevel=2)
        return

    def forward(*args: Any, **kwargs: Any) -> Any:
        try:
            return compiled(*args, **kwargs)
        except Exception as err:
            warnings.warn(f"torch.compile of `{name}` failed at its first call "
                          f"({type(err).__name__}: {err!s:.200}); running eager.", stacklevel=2)
            net.forward = eager
            return eager(*args, **kwargs)

    net.forward = forward
