"""NCHW vs NHWC (channels_last) on the CPU for the conv presets: why
`callbacks.performance.channels_last: auto` turns NHWC on for conv models on the CPU.

For `vae_mnist`, `dcgan_mnist` and `cgan_mnist` (their configs, their training split from
the shared MNIST, as benchmarks/overhead.py builds them): seconds per training step of the
plain loop (overhead.py's, same nets, optimiser and batches), and for the VAE the IWAE
bound of its test (`iwae_log_likelihood` on `--iwae-images` images, K = the preset's),
each with the model's weights contiguous and with them in channels_last, alternated in one
process for `--rounds`. Ratios are NCHW seconds over NHWC seconds (median of per-round
ratios; > 1: NHWC is faster), and the largest difference between the two layouts'
IWAE values shows they compute the same bound.

    python benchmarks/memory_format.py
    python benchmarks/memory_format.py --smoke     # tiny, for the test suite
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import overhead  # noqa: E402


def step_seconds(case: overhead.Case, model: torch.nn.Module, data: overhead.Split,
                 batch_size: int, steps: int, warmup: int) -> float:
    step = case.plain_step(model)  # copies the model's nets in their current layout
    return 1.0 / overhead.plain_steps_per_second(step, data, batch_size, steps, warmup)


def iwae_seconds(model: torch.nn.Module, x: torch.Tensor, k: int) -> tuple[float, torch.Tensor]:
    torch.manual_seed(0)
    start = time.perf_counter()
    value = model.iwae_log_likelihood(torch.bernoulli(x), k)
    return time.perf_counter() - start, value


def measure(name: str, rounds: int, steps: int, warmup: int, iwae_images: int,
            smoke: bool) -> dict:
    case = overhead.CASES[name]
    extra = ["data.batch_size=16"] if smoke else []
    model, data, batch_size = overhead.training_setup(case, extra)
    layouts = {"nchw": model, "nhwc": copy.deepcopy(model).to(memory_format=torch.channels_last)}
    out: dict = {"step_s": {k: [] for k in layouts}}
    vae = hasattr(model, "iwae_log_likelihood")
    if vae:
        out["iwae_s"] = {k: [] for k in layouts}
        x = data[0][:iwae_images]
        k = 20 if smoke else int(model.hparams.iwae_samples)
    for _ in range(rounds):
        for layout, net in layouts.items():
            torch.manual_seed(0)
            out["step_s"][layout].append(step_seconds(case, net, data, batch_size, steps, warmup))
            if vae:
                seconds, values = iwae_seconds(net.eval(), x, k)
                out["iwae_s"][layout].append(seconds)
                out.setdefault("iwae_values", {})[layout] = values
    for key in ("step_s", "iwae_s"):
        if key in out:
            out[f"{key}_ratio_nchw_over_nhwc"] = harness.paired_ratio(out[key]["nchw"],
                                                                      out[key]["nhwc"])
    if vae:
        values = out.pop("iwae_values")
        out["iwae_max_abs_diff_nats"] = float((values["nchw"] - values["nhwc"]).abs().max())
        out["iwae_images"], out["iwae_k"] = len(x), k
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cases = ["vae_mnist", "dcgan_mnist", "cgan_mnist"]
    parser.add_argument("--models", nargs="+", default=cases, choices=cases)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20, help="timed batches per layout")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iwae-images", type=int, default=20)
    parser.add_argument("--data-dir", type=Path, default=harness.SHARED_DATA)
    parser.add_argument("--smoke", action="store_true", help="1 round, 2 steps, tiny batches")
    parser.add_argument("--out-dir", type=Path, default=None, help="default benchmarks/results")
    args = parser.parse_args()
    if not (args.data_dir / "MNIST" / "raw").is_dir():
        raise SystemExit(f"memory_format.py: no MNIST under {args.data_dir} (--data-dir)")
    overhead.DATA_DIR[0] = args.data_dir.resolve()
    if args.smoke:
        args.rounds, args.steps, args.warmup, args.iwae_images = 1, 2, 1, 4
    results = {name: measure(name, args.rounds, args.steps, args.warmup, args.iwae_images,
                             args.smoke) for name in args.models}
    rows = []
    for name, r in results.items():
        iwae = r.get("iwae_s")
        rows.append([name, f"{harness.median(r['step_s']['nchw']) * 1e3:.1f}",
                     f"{harness.median(r['step_s']['nhwc']) * 1e3:.1f}",
                     f"{r['step_s_ratio_nchw_over_nhwc']:.3f}",
                     f"{harness.median(iwae['nchw']):.2f}" if iwae else "—",
                     f"{harness.median(iwae['nhwc']):.2f}" if iwae else "—",
                     f"{r['iwae_s_ratio_nchw_over_nhwc']:.3f}" if iwae else "—",
                     f"{r['iwae_max_abs_diff_nats']:.1e}" if iwae else "—"])
    harness.print_table(f"NCHW vs channels_last on the CPU (median of {args.rounds} rounds)",
                        ["model", "step ms NCHW", "step ms NHWC", "NCHW/NHWC", "IWAE s NCHW",
                         "IWAE s NHWC", "NCHW/NHWC", "IWAE |Δ| nats"], rows)
    for name, r in results.items():
        print(f"ratio {name} step NCHW/NHWC (s per step): {r['step_s_ratio_nchw_over_nhwc']:.3f}")
        if "iwae_s" in r:
            print(f"ratio {name} IWAE NCHW/NHWC (s): {r['iwae_s_ratio_nchw_over_nhwc']:.3f}")
    settings = {"models": args.models, "rounds": args.rounds, "steps": args.steps,
                "warmup": args.warmup, "iwae_images": args.iwae_images, "smoke": args.smoke,
                "data_dir": str(args.data_dir)}
    harness.write_result("memory_format", {"settings": settings, "results": results},
                         args.out_dir)


if __name__ == "__main__":
    main()
