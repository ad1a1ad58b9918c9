"""The contract of a generative model, as the callbacks and commands see it: what it draws
(`data_shape`: (C, H, W) for images, (D,) for points), whether it draws per class
(`conditional`, `num_classes`) and `sample(n, labels=None)` → (n, *data_shape), images in
[0, 1]. genlab's VAE and GAN meet it; so does any LightningModule from outside that has
these members, without subclassing anything."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class GenerativeModel(Protocol):
    data_shape: tuple[int, ...]
    num_classes: int
    conditional: bool  # sample() takes class labels (n,) in [0, num_classes)

    def sample(self, n: int, labels: Any = None) -> Any: ...


def is_image_model(model: Any) -> bool:
    """A generative model whose samples are images (C, H, W)."""
    return isinstance(model, GenerativeModel) and len(model.data_shape) == 3
