"""Images per second through genlab's sample-quality evaluation vs torch-fidelity's own
`calculate_metrics` (the engine of its `fidelity` command) on the same images and the same
extractor: InceptionV3 with *randomly initialised* weights written by this script (the real
file may be absent; the network's cost does not depend on its values). Both paths compute
FID, KID, IS and precision/recall from scratch (no caches) on `n` "real" and `n` "generated"
random uint8 RGB images of side `size`; images/s = 2n / seconds. Prints the ratio
genlab / torch-fidelity and writes the numbers as JSON.

    python benchmarks/fid_throughput.py                  # n=256, 32×32
    python benchmarks/fid_throughput.py --smoke          # tiny, for the test suite
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import Dataset


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
    from genlab.metrics.sample_quality import SampleQualityMetrics

    start = time.perf_counter()
    extractor = InceptionFeatures(str(weights))
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
    parser.add_argument("--smoke", action="store_true", help="n=12, size=16")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/fid_throughput.json"))
    args = parser.parse_args()
    if args.smoke:
        args.n, args.size = 12, 16
    gen = torch.Generator().manual_seed(0)
    real, fake = (torch.randint(0, 256, (args.n, 3, args.size, args.size), generator=gen,
                                dtype=torch.uint8) for _ in range(2))
    from genlab.metrics.inception import write_random_weights

    with tempfile.TemporaryDirectory() as tmp:
        weights = write_random_weights(Path(tmp) / "inception.pth")
        genlab_s = genlab_seconds(real, fake, weights, args.batch)
        fidelity_s = fidelity_seconds(real, fake, weights, args.batch)
    result = {"n_per_set": args.n, "size": args.size, "batch": args.batch,
              "device": "cpu", "threads": torch.get_num_threads(),
              "extractor": "inception-v3-compat, random weights",
              "genlab_images_per_s": 2 * args.n / genlab_s,
              "torch_fidelity_images_per_s": 2 * args.n / fidelity_s,
              "ratio_genlab_over_torch_fidelity": fidelity_s / genlab_s}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"genlab {result['genlab_images_per_s']:.1f} img/s, torch-fidelity "
          f"{result['torch_fidelity_images_per_s']:.1f} img/s, ratio "
          f"{result['ratio_genlab_over_torch_fidelity']:.2f}")


if __name__ == "__main__":
    main()
