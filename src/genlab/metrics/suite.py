"""FID, KID, Inception Score, precision/recall and conditional class accuracy of generated
images, in the feature space of one extractor, against fixed reference features.

The maths is torchmetrics' (FrechetInceptionDistance, KernelInceptionDistance,
InceptionScore, MulticlassAccuracy) and torch-fidelity's (precision/recall of Kynkäänniemi
et al. 2019, `calculate_precision_recall_part`); nothing is re-implemented. Each batch of
images goes through the extractor once and the metrics receive its features (they are built
with a pass-through "feature network"). All state is torchmetrics state, so it syncs across
DDP ranks: each rank holds a shard of the reference features and its own generated ones.

Names say the feature space: with `inception` the keys are fid, kid, is, precision,
recall; with any other extractor they carry its suffix (fid_classifier, ...). class_acc is
the share of samples the classifier assigns to their conditioning label; conditional
models are given labels in the reference split's class proportions (`labels_like`).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy
from torchmetrics.image import FrechetInceptionDistance, InceptionScore, KernelInceptionDistance
from torchmetrics.utilities import dim_zero_cat

from genlab.errors import GenlabWarning


def labels_like(reference: torch.Tensor, n: int, num_classes: int, seed: int) -> torch.Tensor:
    """n conditioning labels (n,) long whose class counts follow the reference labels'
    (N,) — each class gets ⌊n·share⌋ or ⌈n·share⌉ (largest remainder, so they sum to n) —
    in a fixed random order (`seed`), so every chunk of them is a near-stratified draw.
    Uniform labels would bias FID and KID on unbalanced data: the generated set would then
    differ from the reference in its class mix even for a perfect generator."""
    quota = torch.bincount(reference.long().cpu(), minlength=num_classes).double()
    quota = quota / quota.sum() * n
    counts = quota.floor().long()
    remainder_first = torch.argsort(quota - counts, descending=True, stable=True)
    counts[remainder_first[: n - int(counts.sum())]] += 1
    labels = torch.repeat_interleave(torch.arange(num_classes), counts)
    return labels[torch.randperm(n, generator=torch.Generator().manual_seed(seed))]


class SmallReferenceWarning(GenlabWarning):
    """FID from no more reference images than feature dimensions."""


def warn_small_reference(n: int, dim: int, suffix: str) -> None:
    """One line when n reference images in dim-d features make FID's reference covariance
    singular (rank ≤ n − 1 < dim, i.e. n ≤ dim): FID still exists, but with a bias that
    depends on n, so it compares runs only on the same reference (measured in
    experiments/README.md#small-reference-sets)."""
    if n <= dim:
        warnings.warn(
            f"fid{suffix} from {n} reference images in {dim}-d features: their covariance is "
            f"singular (rank ≤ {n - 1}), so FID is biased upwards by an amount that depends "
            f"on the reference size; compare it only on this reference, and prefer "
            f"kid{suffix} (unbiased) across sizes — experiments/README.md#small-reference-sets",
            SmallReferenceWarning, stacklevel=3)


class PrecomputedFeatures(nn.Module):
    """The identity, standing in for the metrics' feature network: inputs are features."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class PrecisionRecall(Metric):
    """Improved precision and recall (k-NN manifolds, k = `neighborhood`) of generated
    features against `reference` (N, D), computed by torch-fidelity on equally many of each:
    the first min(#generated, N) of both, since k-NN radii depend on the set size."""

    full_state_update = False

    def __init__(self, reference: torch.Tensor, neighborhood: int = 3) -> None:
        super().__init__()
        self.neighborhood = neighborhood
        self.register_buffer("reference", reference.float(), persistent=False)
        self.add_state("fake_features", [], dist_reduce_fx="cat")

    def update(self, features: torch.Tensor) -> None:
        self.fake_features.append(features.float())

    def compute(self) -> dict[str, float]:
        from torch_fidelity.metric_prc import calculate_precision_recall_part

        fake = dim_zero_cat(self.fake_features)
        n = min(len(fake), len(self.reference))
        k = min(self.neighborhood, n - 1)
        precision, recall = calculate_precision_recall_part(fake[:n], self.reference[:n], k)
        return {"precision": precision, "recall": recall}


class SampleQualityMetrics(nn.Module):
    """update(images (B, C, H, W) in [0, 1], labels (B,) or None); compute() → {name: value};
    reset() forgets the generated images and keeps the reference.

    reference: (N, D) features of real images; rank/world_size: this process's shard of them.
    n_generated: how many images will be given per evaluation (bounds KID's subset size).
    judge_accuracy: the extractor's classification accuracy on the reference split, when it
    is a classifier; reported as `<extractor name>_acc` next to the numbers it judges.
    """

    def __init__(self, extractor: nn.Module, reference: torch.Tensor, n_generated: int,
                 num_classes: int = 0, kid_subsets: int = 100, kid_subset_size: int = 1000,
                 is_splits: int = 10, prc_neighborhood: int = 3, rank: int = 0,
                 world_size: int = 1, judge_accuracy: float | None = None) -> None:
        super().__init__()
        self.extractor, self.suffix = extractor, extractor.metric_suffix
        reference = reference.float()
        if rank == 0:
            warn_small_reference(len(reference), reference.shape[1], self.suffix)
        shard = reference[rank::world_size]
        with warnings.catch_warnings():  # torchmetrics warns that KID/IS keep all features
            warnings.simplefilter("ignore", UserWarning)
            self.fid = FrechetInceptionDistance(PrecomputedFeatures(reference.shape[1]),
                                                reset_real_features=False)
            self.kid = KernelInceptionDistance(
                PrecomputedFeatures(reference.shape[1]), subsets=kid_subsets,
                subset_size=max(2, min(kid_subset_size, len(reference), n_generated)),
                reset_real_features=False)
            self.inception_score = InceptionScore(PrecomputedFeatures(extractor.num_logits),
                                                  splits=max(1, min(is_splits, n_generated)))
        self.judge_accuracy = judge_accuracy
        self.fid.update(shard, real=True)
        self.kid.update(shard, real=True)
        self.prc = PrecisionRecall(reference, prc_neighborhood)
        self.class_acc = (MulticlassAccuracy(num_classes, average="micro")
                          if num_classes and extractor.name == "classifier" else None)

    def update(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        features, logits = self.extractor(images)
        self.fid.update(features, real=False)
        self.kid.update(features, real=False)
        # float64 as torch-fidelity: for peaked logits float32 softmax underflows to 0 and
        # p·log p gives NaN (measured: NaN vs 1.074 in tests/test_fid_oracle.py)
        self.inception_score.update(logits.double())
        self.prc.update(features)
        if self.class_acc is not None and labels is not None:
            self.class_acc.update(logits.argmax(dim=1), labels)

    def compute(self) -> dict[str, float]:
        s = self.suffix
        kid_mean, _ = self.kid.compute()
        is_mean, _ = self.inception_score.compute()
        prc = self.prc.compute()
        out = {f"fid{s}": float(self.fid.compute()), f"kid{s}": float(kid_mean),
               f"is{s}": float(is_mean), f"precision{s}": prc["precision"],
               f"recall{s}": prc["recall"]}
        if self.class_acc is not None and self.class_acc.update_called:
            out["class_acc"] = float(self.class_acc.compute())
        if self.judge_accuracy is not None:  # the judge's accuracy on this reference split
            out[f"{self.extractor.name}_acc"] = float(self.judge_accuracy)
        return out

    def reset(self) -> None:
        for metric in (self.fid, self.kid, self.inception_score, self.prc, self.class_acc):
            if metric is not None:
                metric.reset()
