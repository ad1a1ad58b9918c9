"""The contract of a feature extractor behind FID, KID, IS and precision/recall
(inception.py, classifier.py, or one from outside): called on images (B, C, H, W) float in
[0, 1] it returns (features (B, num_features), logits (B, num_logits)); `name` goes into
the logged config and `metric_suffix` into the metric names (`val/fid` + suffix: only the
Inception extractor has the empty suffix); `identity` is the plain dict that keys its
cached reference statistics. A `Judge` also reports its accuracy on a split (a classifier's
credential, logged next to its numbers)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class FeatureExtractor(Protocol):
    name: str
    metric_suffix: str
    identity: dict
    num_features: int
    num_logits: int

    def __call__(self, x: Any) -> tuple[Any, Any]: ...


@runtime_checkable
class Judge(FeatureExtractor, Protocol):
    def accuracy(self, split: str, datamodule: Any) -> float: ...
