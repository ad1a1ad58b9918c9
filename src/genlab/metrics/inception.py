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
from typing import Annotated, Any

import torch
from torch import nn

from genlab.config.keys import Key
from genlab.errors import CacheError, DataFormatError, DataNotFoundError
from genlab.metrics.reference_cache import first_sentence, move_aside

# torch-fidelity's converted TF weights; the hex in the name is the start of their SHA-256.
# torch.hub (and so torch-fidelity) checks only that 8-hex prefix; genlab checks the whole
# digest (95,628,359 bytes; the same digest is published for this file by pytorch-fid and by
# several projects that pin torch-fidelity's weights).
WEIGHTS_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
               "weights-inception-2015-12-05-6726825d.pth")
WEIGHTS_FILE = WEIGHTS_URL.rsplit("/", 1)[1]
WEIGHTS_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
WEIGHTS_SHA256_PREFIX = WEIGHTS_SHA256[:8]
WEIGHTS_BYTES = 95_628_359
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


def write_random_weights(path: str | Path, seed: int = 0, calibrate: bool = True) -> Path:
    """A weights file with the real shapes and random values (for tests and benchmarks on
    machines without the real file): the load path and the preprocessing run for real.

    With default initialisation the activations shrink layer by layer (pool features
    ~1e-7), which makes every FID ≈ 0 and hides preprocessing bugs. `calibrate` sets each
    batch norm's running statistics to those of one batch of random images (one forward
    in training mode with cumulative averages), so every layer's output, and the 2048 pool
    features, have O(1) spread: the numbers are still meaningless as image quality, but
    two different image sets give clearly different, well-conditioned statistics."""
    from unittest import mock

    import torch_fidelity.feature_extractor_inceptionv3 as fe

    torch.manual_seed(seed)
    with mock.patch.object(fe, "load_state_dict_from_url", return_value={}), \
            mock.patch.object(fe.FeatureExtractorInceptionV3, "load_state_dict"):
        net = _fidelity_inception(None)
    if calibrate:
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.reset_running_stats()
                module.momentum = None  # cumulative: after one batch, that batch's stats
                module.train()
        images = torch.randint(0, 256, (12, 3, 64, 64),
                               generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
        with torch.no_grad():
            net(images)
    state = net.state_dict()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def _refuse_if_broken(path: Path) -> None:
    """Load `path` as a plain state dict (weights_only: a pickled object is refused unrun).
    A file that does not load, a truncated or garbled download, is moved aside
    (genlab/metrics/reference_cache.py) and the run stops: unlike the other cache entries
    these weights are not rebuilt here, because evaluation never downloads."""
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        if "weights_only" in str(err):  # a whole file with pickled objects: not broken
            raise DataFormatError(f"{path} is not a plain state dict of InceptionV3 weights "
                                  f"({first_sentence(err)}); fetch it again with "
                                  "`genlab-fetch`.") from err
        size = path.stat().st_size
        try:
            moved = f"moved aside to {move_aside(path).name}"
        except OSError as move_err:  # a read-only copy: leave it
            moved = f"left in place ({move_err.strerror})"
        raise CacheError(
            f"Inception weights {path} are truncated or corrupt ({size:,} bytes; torch-fidelity's "
            f"are {WEIGHTS_BYTES:,}; {first_sentence(err)}); {moved}. This extractor never "
            f"downloads at evaluation time: run `genlab-fetch` on a machine with internet to "
            f"fetch {WEIGHTS_FILE} again (it checks the SHA-256), or copy it to {path}.") from None


class InceptionFeatures(nn.Module):
    """x: (B, C, H, W) float in [0, 1], C ∈ {1, 3} → features (B, 2048), logits (B, 1008).

    `sha256`: the digest the weights file must have — "torch-fidelity" (its published
    weights, the default), another 64-hex digest for weights of your own, or None (no
    check). A file that fails it is refused here, before any FID is computed."""

    name = "inception"
    metric_suffix = ""  # val/fid, val/kid, ... are reserved for this extractor

    def __init__(
        self,
        weights_path: Annotated[str, Key("torch-fidelity's Inception weights (genlab-fetch "
                                         "saves them)")],
        name: Annotated[str, Key("the extractor's name in metric names",
                                 choices=("inception",))] = "inception",
        channels_last: Annotated[bool, Key("NHWC convolutions: same features (~1e-6 "
                                           "relative), 1.5x faster on CPU")] = True,
        sha256: Annotated[str | None, Key("the file's SHA-256: torch-fidelity (its own), a "
                                          "64-hex digest for other weights, null: no "
                                          "check")] = "torch-fidelity",
        **_context: Any,
    ) -> None:
        super().__init__()
        path = Path(weights_path)
        if not path.is_file():
            raise DataNotFoundError(
                f"Inception weights not found at {path}. This extractor never downloads at "
                f"evaluation time: run `genlab-fetch` on a machine with internet (it saves "
                f"{WEIGHTS_FILE} into paths.cache_dir/weights and checks its SHA-256), or copy "
                f"the file there, or use `metrics/features=classifier`.")
        digest = file_sha256(path)
        sha256 = WEIGHTS_SHA256 if sha256 == "torch-fidelity" else sha256
        if sha256 is not None and digest != sha256:
            _refuse_if_broken(path)
            raise DataFormatError(
                f"{path} is not torch-fidelity's Inception weights: its SHA-256 is {digest}, "
                f"expected {sha256} (metrics.features.sha256). FID/KID/IS under the Inception "
                f"names would not be comparable with anyone's; fetch the file again with "
                f"`genlab-fetch`, or, for weights of your own, set "
                f"metrics.features.sha256 to their digest (or null to skip the check).")
        # refuse pickled objects before torch-fidelity loads the file itself
        _refuse_if_broken(path)
        self.net = _fidelity_inception(str(path))
        if channels_last:
            # NHWC weights make the convolutions run channels-last (oneDNN on CPU, cuDNN on
            # GPU): 1.5x faster on this machine's CPU, features equal to ~1e-6 relative
            # (tests/test_metrics_sample_quality.py); the weights and preprocessing are
            # unchanged, so the cache key of reference statistics is too.
            self.net.to(memory_format=torch.channels_last)
        self.num_features, self.num_logits = 2048, 1008
        self.identity = {"name": self.name, "weights_sha256": digest,
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
