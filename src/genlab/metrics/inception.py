"""The `inception` feature extractor: torch-fidelity's InceptionV3 (the TF-FID network),
loaded from a weights file under `paths.cache_dir`, never downloaded at evaluation time.

Input contract (torch-fidelity's): uint8 images with 3 channels, resized inside the network
to 299×299 by its TF1-compatible bilinear interpolation. Our images x ∈ [0, 1] become
round(255·x) as uint8; grey images are repeated to 3 channels. Outputs the 2048-d pool
features (FID, KID, precision/recall) and the 1008 unbiased logits (Inception Score).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genlab.errors import DataFormatError, DataNotFoundError

# torch-fidelity's converted TF weights; the hex in the name is the start of their SHA-256.
WEIGHTS_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
               "weights-inception-2015-12-05-6726825d.pth")
WEIGHTS_FILE = WEIGHTS_URL.rsplit("/", 1)[1]
WEIGHTS_SHA256_PREFIX = "6726825d"
PREPROCESSING = "uint8 round(255x), grey->3 channels, torch-fidelity TF1 bilinear resize to 299"


def weights_path(cache_dir: str | Path) -> Path:
    return Path(cache_dir) / "weights" / WEIGHTS_FILE


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fidelity_inception(path: str | None) -> nn.Module:
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    return FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                       feature_extractor_weights_path=path)


def write_random_weights(path: str | Path, seed: int = 0) -> Path:
    """A weights file with the real shapes and random values (for tests and benchmarks on
    machines without the real file): the load path and the preprocessing run for real,
    the numbers mean nothing."""
    from unittest import mock

    import torch_fidelity.feature_extractor_inceptionv3 as fe

    torch.manual_seed(seed)
    with mock.patch.object(fe, "load_state_dict_from_url", return_value={}), \
            mock.patch.object(fe.FeatureExtractorInceptionV3, "load_state_dict"):
        state = _fidelity_inception(None).state_dict()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


class InceptionFeatures(nn.Module):
    """x: (B, C, H, W) float in [0, 1], C ∈ {1, 3} → features (B, 2048), logits (B, 1008)."""

    name = "inception"
    metric_suffix = ""  # val/fid, val/kid, ... are reserved for this extractor

    def __init__(self, weights_path: str, name: str = "inception", channels_last: bool = True,
                 **_context: Any) -> None:
        super().__init__()
        path = Path(weights_path)
        if not path.is_file():
            raise DataNotFoundError(
                f"Inception weights not found at {path}. This extractor never downloads at "
                f"evaluation time: run `genlab-fetch` on a machine with internet (it saves "
                f"{WEIGHTS_FILE} into paths.cache_dir/weights and checks its SHA-256), or copy "
                f"the file there, or use `metrics/features=classifier`.")
        try:  # refuse pickled objects before torch-fidelity loads the file itself
            torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise DataFormatError(f"{path} is not a plain state dict of InceptionV3 weights "
                                  f"({err}); fetch it again with `genlab-fetch`.") from err
        self.net = _fidelity_inception(str(path))
        if channels_last:
            # NHWC weights make the convolutions run channels-last (oneDNN on CPU, cuDNN on
            # GPU): 1.5x faster on this machine's CPU, features equal to ~1e-6 relative
            # (tests/test_metrics_sample_quality.py); the weights and preprocessing are
            # unchanged, so the cache key of reference statistics is too.
            self.net.to(memory_format=torch.channels_last)
        self.num_features, self.num_logits = 2048, 1008
        self.identity = {"name": self.name, "weights_sha256": file_sha256(path),
                         "preprocessing": PREPROCESSING}
        self.info: dict[str, float] = {}

    def train(self, mode: bool = True) -> InceptionFeatures:
        return super().train(False)  # a fixed network: batch norm stays in eval mode

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images = (x.clamp(0, 1) * 255).round().to(torch.uint8)
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        features, logits = self.net(images)
        return features, logits
