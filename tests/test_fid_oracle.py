"""genlab's Inception metrics against torch-fidelity, the reference implementation, on the
same images and the same weights file; and the refusal of a wrong weights file.

The weights are random but calibrated (metrics/inception.py:write_random_weights), so the
2048 pool features have O(1) spread and two image sets give FIDs far from 0: an
uncalibrated file gives FID ≈ 1e-14 for any images and would hide any preprocessing bug.
genlab's images take the path a model's samples take (float in [0, 1] → round(255·x)
uint8 inside the extractor); torch-fidelity reads the PNG files those same floats were
saved as (torchvision's save_image, as genlab-sample writes them).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision.utils import save_image

from genlab.callbacks.sample_quality import extract
from genlab.errors import DataFormatError
from genlab.metrics import inception as inception_module
from genlab.metrics.inception import InceptionFeatures, file_sha256, write_random_weights
from genlab.metrics.suite import SampleQualityMetrics


def _blobs(n: int, seed: int, width: float) -> torch.Tensor:
    """n RGB 32×32 images in [0, 1]: Gaussian blobs at random places (smooth, varied)."""
    gen = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    centres = torch.rand(n, 3, 2, generator=gen) * 24 + 4
    d2 = (ys - centres[..., 0, None, None]) ** 2 + (xs - centres[..., 1, None, None]) ** 2
    return torch.exp(-d2 / (2 * width**2))


def _png_folder(images: torch.Tensor, folder: Path) -> Path:
    folder.mkdir(parents=True)
    for i, image in enumerate(images):
        save_image(image, folder / f"{i:03d}.png")
    return folder


@pytest.mark.slow
def test_inception_metrics_equal_torch_fidelity(tmp_path: Path) -> None:
    """FID, KID, IS, precision and recall equal torch_fidelity.calculate_metrics to 1e-3
    relative. Rules out a wrong quantisation (x·255 truncated instead of rounded, or
    [−1, 1] inputs), a missing grey→RGB or resize step, features from the wrong layer,
    IS from softmax of the wrong logits, and FID/KID maths that differs from the
    reference (e.g. biased KID, a covariance with the wrong normalisation)."""
    import torch_fidelity

    n = 64
    weights = write_random_weights(tmp_path / "inception.pth")
    real, fake = _blobs(n, seed=0, width=4.0), _blobs(n, seed=1, width=3.3)
    real_dir, fake_dir = _png_folder(real, tmp_path / "real"), _png_folder(fake, tmp_path / "fake")
    theirs = torch_fidelity.calculate_metrics(
        input1=str(fake_dir), input2=str(real_dir), fid=True, kid=True, isc=True, prc=True,
        kid_subsets=3, kid_subset_size=n, isc_splits=1, prc_neighborhood=3,
        feature_extractor="inception-v3-compat", feature_extractor_weights_path=str(weights),
        batch_size=32, cuda=False, cache=False, verbose=False)

    extractor = InceptionFeatures(str(weights), sha256=None)
    reference = torch.from_numpy(extract(extractor, real, 32, torch.device("cpu")))
    assert reference.std(0).mean() > 0.05  # calibrated: features are not ~1e-7
    metrics = SampleQualityMetrics(extractor, reference, n_generated=n, kid_subsets=3,
                                   kid_subset_size=n, is_splits=1, prc_neighborhood=3)
    for chunk in fake.split(32):
        metrics.update(chunk)
    ours = metrics.compute()
    pairs = {"fid": "frechet_inception_distance", "kid": "kernel_inception_distance_mean",
             "is": "inception_score_mean", "precision": "precision", "recall": "recall"}
    print({k: (ours[k], float(theirs[v])) for k, v in pairs.items()})
    assert ours["fid"] > 1.0  # non-degenerate: the two sets are clearly apart
    assert 0 < float(theirs["recall"]) < 1 and 0 < float(theirs["precision"]) < 1
    for ours_key, their_key in pairs.items():
        assert ours[ours_key] == pytest.approx(float(theirs[their_key]), rel=1e-3, abs=1e-6), \
            ours_key


def test_a_wrong_file_under_the_inception_name_is_refused(tmp_path: Path) -> None:
    """A file under torch-fidelity's name whose SHA-256 is not the published one is refused
    when the extractor is built (before any FID): rules out trusting the file name."""
    path = tmp_path / "weights" / inception_module.WEIGHTS_FILE
    write_random_weights(path, calibrate=False)
    with pytest.raises(DataFormatError, match="SHA-256"):
        InceptionFeatures(str(path))
    # own weights are accepted when their digest is given
    assert InceptionFeatures(str(path), sha256=file_sha256(path)).identity["weights_sha256"] \
        == file_sha256(path)


def test_fetch_checks_the_whole_digest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """genlab-fetch accepts the Inception file only when its whole SHA-256 matches: a file
    that agrees on the first 8 hex digits (all that torch.hub's file-name check sees) and
    differs after them is not present. Rules out a prefix check."""
    from genlab.cli import fetch
    from genlab.metrics import inception

    path = inception.weights_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not the weights")
    digest = file_sha256(path)
    # fetch reads the digest from genlab.metrics.inception when it checks (imported lazily)
    monkeypatch.setattr(inception, "WEIGHTS_SHA256", digest[:8] + "0" * 56)
    assert not fetch.inception_present(tmp_path)
    monkeypatch.setattr(inception, "WEIGHTS_SHA256", digest)
    assert fetch.inception_present(tmp_path)
