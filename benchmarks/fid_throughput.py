"""Images per second through genlab's sample-quality evaluation vs torch-fidelity's own
`calculate_metrics` (the engine of its `fidelity` command) on the same images and the same
extractor: InceptionV3 with *randomly initialised* weights written by this script (the real
file may be absent; the network's cost does not depend on its values). Both paths compute
FID, KID, IS and precision/recall from scratch (no caches, the extractor loaded from its
file in each run) on `n` "real" and `n` "generated" random uint8 RGB images of side `size`;
images/s = 2n / seconds. The two alternate for `rounds` rounds after one untimed warm-up
of each; the ratio genlab / torch-fidelity is the median of the per-round ratios. Writes
benchmarks/results/fid_throughput.json.

    python benchmarks/fid_throughput.py                  # n=256, 32×32, 3 rounds
    python benchmarks/fid_throughput.py --smoke          # tiny, for the test suite
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

TARGET_RATIO = 1.0


class UInt8Images(Dataset):
    """torch-fidelity's input contract: uint8 (3, H, W) tensors."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


def genlab_seconds(real: torch.Tensor, fake: torch.Tensor, weights: Path, batch: int) -> float:
    from genlab.callbacks.sample_quality import extract
    from genlab.metrics.inception import InceptionFeatures
    from genlab.metrics.suite import SampleQualityMetrics

    start = time.perf_counter()
    extractor = InceptionFeatures(str(weights), sha256=None)
    reference = torch.from_numpy(extract(extractor, real.float() / 255, batch, torch.device("cpu")))
    metrics = SampleQualityMetrics(extractor, reference, n_generated=len(fake))
    for chunk in fake.split(batch):
        metrics.update(chunk.float() / 255)
    metrics.compute()
    return time.perf_counter() - start


def fidelity_seconds(real: torch.Tensor, fake: torch.Tensor, weights: Path, batch: int) -> float:
    import torch_fidelity

    start = time.perf_counter()
    torch_fidelity.calculate_metrics(
        input1=UInt8Images(fake), input2=UInt8Images(real), fid=True, kid=True, isc=True,
        prc=True, kid_subset_size=min(1000, len(real)), feature_extractor="inception-v3-compat",
        feature_extractor_weights_path=str(weights), batch_size=batch, cuda=False, cache=False,
        verbose=False, save_cpu_ram=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="n=12, size=16, one round")
    parser.add_argument("--out-dir", type=Path, default=None, help="default benchmarks/results")
    args = parser.parse_args()
    if args.smoke:
        args.n, args.size, args.rounds = 12, 16, 1
    gen = torch.Generator().manual_seed(0)
    real, fake = (torch.randint(0, 256, (args.n, 3, args.size, args.size), generator=gen,
                                dtype=torch.uint8) for _ in range(2))
    from genlab.metrics.inception import write_random_weights

    with tempfile.TemporaryDirectory() as tmp:
        weights = write_random_weights(Path(tmp) / "inception.pth")
        warm = real[: min(4, args.n)]  # untimed: imports and first-call set-up of both paths
        genlab_seconds(warm, warm, weights, args.batch)
        fidelity_seconds(warm, warm, weights, args.batch)
        seconds = harness.alternate({
            "genlab": lambda: genlab_seconds(real, fake, weights, args.batch),
            "torch_fidelity": lambda: fidelity_seconds(real, fake, weights, args.batch),
        }, args.rounds)
    rate = {name: [2 * args.n / s for s in values] for name, values in seconds.items()}
    result = {
        "settings": {"n_per_set": args.n, "size": args.size, "batch": args.batch,
                     "rounds": args.rounds, "device": "cpu", "smoke": args.smoke,
                     "extractor": "inception-v3-compat, random weights"},
        "genlab_images_per_s": rate["genlab"],
        "torch_fidelity_images_per_s": rate["torch_fidelity"],
        "genlab_median_images_per_s": harness.median(rate["genlab"]),
        "torch_fidelity_median_images_per_s": harness.median(rate["torch_fidelity"]),
        "ratio_genlab_over_torch_fidelity": harness.paired_ratio(rate["genlab"],
                                                                 rate["torch_fidelity"]),
        "target_ratio": TARGET_RATIO,
    }
    harness.print_table(
        f"FID-suite throughput: images/s (median of {args.rounds} alternated rounds)",
        ["n per set", "size", "genlab img/s", "torch-fidelity img/s", "ratio", "target"],
        [[str(args.n), str(args.size), f"{result['genlab_median_images_per_s']:.1f}",
          f"{result['torch_fidelity_median_images_per_s']:.1f}",
          f"{result['ratio_genlab_over_torch_fidelity']:.3f}", f"≥ {TARGET_RATIO}"]])
    print(f"ratio genlab/torch-fidelity (images/s): "
          f"{result['ratio_genlab_over_torch_fidelity']:.3f}")
    harness.write_result("fid_throughput", result, args.out_dir)


if __name__ == "__main__":
    main()
