"""GPU fast paths: DCGAN training images per second at 64×64 with genlab's speed options on
(`fast`: bf16-mixed precision, channels_last, torch.compile of the nets, cuDNN autotuning,
TF32 matmuls) against the same run with them off (`fp32_eager`: 32-true precision, NCHW,
eager, no autotuning, highest matmul precision). The target is fast / fp32 eager ≥ 2.0.

Both variants go through genlab's real path: the train config composed with Hydra
(`model=dcgan data=image_folder`) on a folder of random 64×64 RGB PNGs written to a
temporary directory (decoded, resized and cropped by the data module's DataLoader workers
as a user's own images are), trained by `genlab.train.run` with trackers, checkpoints,
validation, test and every callback off except `PerformanceOptions` (which carries the
options; `callbacks=none` would drop it, so it is added back) and a step clock. The clock
waits for the GPU at the two instants it times between: the start of batch `warmup` (the
batches before it, torch.compile's compilation among them, are untimed) and the end of the
last batch. images/s = batches/s × batch size; the train split is a whole number of full
batches (no validation or test split). A batch is one D step and one G step.

Before the rounds each variant runs once untimed (warming the Inductor and Triton caches
on disk, cuDNN and the CUDA context); then the two alternate `rounds` times in one process,
and the ratio is the median of the per-round ratios. The compile caches in memory are
cleared before every run (`torch._dynamo.reset()`), so that each run's fresh nets compile
during its own warm-up batches instead of piling recompilations on one code object until
Dynamo gives up and runs eager. Global settings that outlive a run are set explicitly by
both variants (matmul precision; Lightning sets cuDNN's autotune flag from
`trainer.benchmark` in each Trainer). A compile that fails falls back to eager with a
warning (genlab/callbacks/performance.py): such warnings are recorded in the result.

Note that "fp32" is PyTorch's default: cuDNN may already run fp32 convolutions in TF32 on
Ampere and later (`torch.backends.cudnn.allow_tf32`, recorded), so the speed-up measured
is that of the options over what a user gets with none set. The loader alone (the same
DataLoader, no model) is timed once too: a fast variant close to it is bound by PNG
decoding (≈ 2,500 images/s per worker on a 2-core EPYC), not by the GPU: raise
--num-workers, or read the ratio as a lower bound.

    python benchmarks/gpu_fast_paths.py                # on a GPU machine: the full run
    python benchmarks/gpu_fast_paths.py --rounds 1 --steps 30 --warmup 20   # quick check
    python benchmarks/gpu_fast_paths.py --smoke        # tiny, on the CPU, for the test suite

Without a CUDA GPU the full run exits with status 2 (`--allow-cpu` times it on the CPU).
`--smoke` always runs on the CPU at 16×16 with CPU-safe options (its `fast` variant is
channels_last and cuDNN autotuning only, in 32-true precision, not compiled; the JSON's
settings say so): it checks the script and the output format, not the fast paths.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # step_clock, harness, overhead

import harness  # noqa: E402
from overhead import compose  # noqa: E402
from step_clock import StepClock  # noqa: E402

TARGET_RATIO = 2.0
PNG_SIDE = 64  # the files on disk; data.image_size resizes them (64 in the full run)
OPTIMIZER_STEPS_PER_BATCH = 2  # the GAN: one D and one G step; Lightning counts each

# Everything but the training loop off; the PerformanceOptions callback is kept (added back
# after callbacks=none) and the clock added. The accelerator is appended per device.
QUIET = [
    "logger=none", "callbacks=none", "metrics=none",
    "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
    "++trainer.enable_checkpointing=false", "++trainer.limit_val_batches=0", "test=false",
    "optimized_metric=null", "trainer.max_epochs=-1",
    "+callbacks.performance._target_=genlab.callbacks.performance.PerformanceOptions",
    "+callbacks.step_clock._target_=gpu_fast_paths.SyncedStepClock",
]

# `++`: the keys are added to the bare PerformanceOptions node (they are not in it after
# callbacks=none) and would also override them were the node the default one.
FP32_EAGER = [
    "trainer.precision=32-true", "++callbacks.performance.channels_last=false",
    "++callbacks.performance.compile=false", "trainer.benchmark=false",
    "++callbacks.performance.matmul_precision=highest",  # undo `fast`'s global setting
]
FAST = [
    "trainer.precision=bf16-mixed", "++callbacks.performance.channels_last=true",
    "++callbacks.performance.compile=true", "trainer.benchmark=true",
    "++callbacks.performance.matmul_precision=high",
]
# --smoke on the CPU: what runs quickly and reliably there (bf16 autocast is slow on many
# CPUs and compiling needs a C++ toolchain and minutes); it checks the plumbing only
FAST_SMOKE = [
    "trainer.precision=32-true", "++callbacks.performance.channels_last=true",
    "++callbacks.performance.compile=false", "trainer.benchmark=true",
    "++callbacks.performance.matmul_precision=high",
]

COMPILE_WARNING = "torch.compile of"


class SyncedStepClock(StepClock):
    """StepClock that waits for the GPU before it reads the clock at the start of batch
    `warmup` and at the end of batch `batches` (the last), so that queued kernels are
    counted in the timed span; no other batch waits, so the host still runs ahead of the
    device as in any run."""

    def __init__(self, warmup: int = 0, batches: int = 0) -> None:
        super().__init__()
        self.warmup, self.batches = warmup, batches

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if len(self.starts) == self.warmup:
            _synchronize(pl_module.device)
        super().on_train_batch_start(trainer, pl_module, batch, batch_idx)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if len(self.starts) == self.batches:
            _synchronize(pl_module.device)
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def write_pngs(root: Path, n: int, side: int = PNG_SIDE, seed: int = 0) -> None:
    """`n` random RGB PNGs of side × side directly in `root` (an unlabelled image folder),
    as tests/fake_datasets.write_png_folder writes them."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        Image.fromarray(pixels, "RGB").save(root / f"img_{i:05d}.png")


def data_overrides(root: Path, image_size: int, batch: int, num_workers: int) -> list[str]:
    """The image folder as the whole train split (no validation or test files), so every
    batch is full."""
    return ["model=dcgan", "data=image_folder", f"data.root={root}",
            f"data.image_size={image_size}", f"data.batch_size={batch}",
            f"data.num_workers={num_workers}", "data.val_fraction=0", "data.test_fraction=0"]


def images_per_second(overrides: list[str], batch: int, steps: int, warmup: int,
                      fallbacks: list[str]) -> float:
    """One `genlab.train.run` of `warmup + steps` batches; images per second over the last
    `steps`. Warnings of a failed compile are appended to `fallbacks`."""
    from genlab.train import run

    batches = warmup + steps
    overrides = [*overrides, f"++callbacks.step_clock.warmup={warmup}",
                 f"++callbacks.step_clock.batches={batches}",
                 f"++trainer.max_steps={batches * OPTIMIZER_STEPS_PER_BATCH}"]
    torch._dynamo.reset()  # fresh nets compile afresh (from the on-disk caches once warm)
    with (tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()),
          warnings.catch_warnings(record=True) as caught):
        warnings.simplefilter("always")
        run(compose(overrides, Path(tmp)))
    fallbacks += sorted({str(w.message) for w in caught if COMPILE_WARNING in str(w.message)})
    clock = StepClock.latest
    if len(clock.starts) != batches:
        raise RuntimeError(f"genlab ran {len(clock.starts)} batches, not {batches}")
    return clock.steps_per_second(warmup) * batch


def loader_images_per_second(overrides: list[str], steps: int, warmup: int) -> float:
    """The train DataLoader alone (decoding, resizing, collation; no model, no copy to the
    GPU): images per second over `steps` batches after `warmup`, across epochs."""
    from genlab.config.instantiate import instantiate

    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose(overrides, Path(tmp))
    dm = instantiate(cfg.data)
    dm.setup("fit")
    loader = dm.train_dataloader()
    done, images, start = 0, 0, 0.0
    while done < warmup + steps:
        for x, _ in loader:
            if done == warmup:
                start = time.perf_counter()
            elif done > warmup:
                images += len(x)
            done += 1
            if done == warmup + steps:
                break
    # the first timed batch's images arrived before `start`: count the batches after it
    rate = images / (time.perf_counter() - start)
    del loader  # its persistent workers end with it
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=None, help="alternated rounds (5)")
    parser.add_argument("--steps", type=int, default=None, help="timed batches per run (200)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="untimed batches at the start of each run (20): compilation")
    parser.add_argument("--batch", type=int, default=None, help="data.batch_size (128)")
    parser.add_argument("--image-size", type=int, default=None, choices=[8, 16, 32, 64],
                        help="data.image_size (64)")
    parser.add_argument("--images", type=int, default=None,
                        help="PNG files written (4096; rounded up to whole batches)")
    parser.add_argument("--num-workers", type=int, default=None,
                        help="data.num_workers (cores − 2, at most 12; the config's default is 2: "
                             "too few to feed a GPU at this size)")
    parser.add_argument("--override", nargs="*", default=[],
                        help="extra Hydra overrides of both variants (data.pin_memory=true)")
    parser.add_argument("--fast-override", nargs="*", default=[],
                        help="extra Hydra overrides of the fast variant only "
                             "(callbacks.performance.compile_mode=max-autotune)")
    parser.add_argument("--allow-cpu", action="store_true",
                        help="run the full benchmark on the CPU when there is no CUDA GPU")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny, on the CPU, CPU-safe fast options: for the test suite")
    parser.add_argument("--out-dir", type=Path, default=None, help="default benchmarks/results")
    args = parser.parse_args()

    cuda = torch.cuda.is_available()
    if not (args.smoke or cuda or args.allow_cpu):
        print("gpu_fast_paths: needs a CUDA GPU (torch.cuda.is_available() is False); "
              "--smoke runs the CPU check, --allow-cpu times the full run on the CPU",
              file=sys.stderr)
        sys.exit(2)
    device = "cuda" if cuda and not args.smoke else "cpu"
    full = {"rounds": 5, "steps": 200, "warmup": 20, "batch": 128, "image_size": 64,
            "images": 4096, "num_workers": max(1, min(12, (os.cpu_count() or 1) - 2))}
    smoke = {"rounds": 2, "steps": 3, "warmup": 2, "batch": 8, "image_size": 16,
             "images": 32, "num_workers": 0}
    for key, value in (smoke if args.smoke else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.images = -(-args.images // args.batch) * args.batch

    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")  # images_per_second still records compile fallbacks
    accelerator = ["trainer.accelerator=gpu" if device == "cuda" else "trainer.accelerator=cpu",
                   "trainer.devices=1"]
    fast = [*(FAST_SMOKE if args.smoke else FAST), *args.fast_override]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        write_pngs(root, args.images)
        common = [*QUIET, *accelerator,
                  *data_overrides(root, args.image_size, args.batch, args.num_workers),
                  *args.override]
        fallbacks: dict[str, list[str]] = {"fp32_eager": [], "fast": []}

        def variant(name: str, overrides: list[str]) -> Callable[[], float]:
            def measure() -> float:
                return images_per_second([*common, *overrides], args.batch, args.steps,
                                         args.warmup, fallbacks[name])
            return measure

        variants = {"fp32_eager": variant("fp32_eager", FP32_EAGER),
                    "fast": variant("fast", fast)}
        for measure in variants.values():  # untimed: compile, cuDNN and disk caches
            measure()
        loader_rate = loader_images_per_second(common, args.steps, args.warmup)
        rates = harness.alternate(variants, args.rounds)

    medians = {name: harness.median(values) for name, values in rates.items()}
    ratio = harness.paired_ratio(rates["fast"], rates["fp32_eager"])
    gpu = torch.cuda.get_device_name(0) if cuda else None
    harness.print_table(
        f"DCGAN {args.image_size}×{args.image_size}, batch {args.batch}, on "
        f"{gpu if device == 'cuda' else 'the CPU'}: training images/s "
        f"(median of {args.rounds} alternated rounds)",
        ["variant", "overrides", "images/s", "vs fp32 eager", "target"],
        [["fp32_eager", " ".join(o.lstrip("+") for o in FP32_EAGER),
          f"{medians['fp32_eager']:.1f}", "1.000", ""],
         ["fast", " ".join(o.lstrip("+") for o in fast), f"{medians['fast']:.1f}",
          f"{ratio:.3f}", f"≥ {TARGET_RATIO}"],
         ["loader alone", "(no model)", f"{loader_rate:.1f}", "", ""]])
    print(f"ratio fast/fp32 eager (images/s): {ratio:.3f}")
    for name, messages in fallbacks.items():
        for message in dict.fromkeys(messages):
            print(f"warning: {name} ran eager: {message}")
    if args.smoke:
        print("smoke: CPU-safe fast options (no bf16, no compile); not a measurement")
    harness.write_result("gpu_fast_paths", {
        "settings": {
            "smoke": args.smoke, "device": device, "rounds": args.rounds, "steps": args.steps,
            "warmup": args.warmup, "batch": args.batch, "image_size": args.image_size,
            "images": args.images, "png_side": PNG_SIDE, "num_workers": args.num_workers,
            "fp32_eager_overrides": FP32_EAGER, "fast_overrides": fast,
            "common_overrides": [o for o in common if "data.root=" not in o],
            "fast_is_cpu_safe_subset": args.smoke,
        },
        "gpu": gpu,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "fp32_eager_images_per_s": rates["fp32_eager"],
        "fast_images_per_s": rates["fast"],
        "fp32_eager_median_images_per_s": medians["fp32_eager"],
        "fast_median_images_per_s": medians["fast"],
        "ratio_fast_over_fp32_eager": ratio,
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
        "loader_images_per_s": loader_rate,
        "compile_fallbacks": {name: sorted(set(m)) for name, m in fallbacks.items()},
    }, args.out_dir)


if __name__ == "__main__":
    main()
