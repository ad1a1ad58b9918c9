"""genlab-apply's completion speed: one mask over the first N test images (batched, as the
command runs it) beside a plain-loop reference of the same optimisation (one image and one
restart at a time, the Adam loop written out), on the same starts; prints seconds per image,
the ratio, the extrapolated time for N images, and how far the two answers differ.

    python benchmarks/apply_complete.py --ckpt logs/train/runs/<vae run>/checkpoints/last.ckpt
    python benchmarks/apply_complete.py --ckpt ... --mask bottom_half --n 1000 --loop-n 20
    python benchmarks/apply_complete.py --smoke   # an untrained digits VAE, 16 images

The plain loop is timed on the first --loop-n images only (it is the slow side); its time
for N images is extrapolated per image. Threads: torch's default (OMP_NUM_THREADS).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import print_table, write_result  # noqa: E402

from genlab.apps.complete import complete, masked_input, paste_known  # noqa: E402
from genlab.apps.latent import LatentModel  # noqa: E402
from genlab.apps.masks import importance_weights, make_mask  # noqa: E402
from genlab.apps.optimise import Fit, initial_latents  # noqa: E402


def one_loss(lm: LatentModel, z: torch.Tensor, y: torch.Tensor, w: torch.Tensor,
             fit: Fit) -> torch.Tensor:
    g = lm.decode(z)
    return (w * (g - y).abs().pow(fit.norm)).sum() + fit.lam * lm.prior_loss(z, g).sum()


def plain_loop(lm: LatentModel, x: torch.Tensor, mask: torch.Tensor, fit: Fit,
               window: int | None, z0: torch.Tensor) -> torch.Tensor:
    """The reference: for each image, for each restart, Adam on one z (cosine-annealed step),
    loss Σ W |G(z) − y|^p + λ prior(z); the lowest final loss kept; known pixels pasted."""
    out = []
    for i in range(len(x)):
        y, m = masked_input(x[i:i + 1], mask[i:i + 1]), mask[i:i + 1]
        w = importance_weights(m, window)
        best, best_loss = None, float("inf")
        for r in range(len(z0)):
            z = z0[r, i:i + 1].clone().requires_grad_(True)
            opt = torch.optim.Adam([z], lr=fit.lr)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(fit.steps, 1))

            for _ in range(fit.steps):
                opt.zero_grad()
                one_loss(lm, z, y, w, fit).backward()
                opt.step()
                sched.step()
            with torch.no_grad():
                final = float(one_loss(lm, z, y, w, fit))
            if final < best_loss:
                best, best_loss = z.detach(), final
        with torch.no_grad():
            out.append(paste_known(x[i:i + 1], m, lm.decode(best).clamp(0, 1)))
    return torch.cat(out)


def batched(lm: LatentModel, x: torch.Tensor, mask: torch.Tensor, fit: Fit, window: int | None,
            batch_size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.cat([complete(lm, x[i:i + batch_size], mask[i:i + batch_size], None, fit,
                               window, g)[0] for i in range(0, len(x), batch_size)])


def load(args: argparse.Namespace) -> tuple[LatentModel, torch.Tensor]:
    if args.smoke:
        from hydra import compose, initialize_config_dir

        from genlab.config import config_dir
        from genlab.config.instantiate import instantiate

        with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
            cfg = compose("train", overrides=["model=vae"])
        model = instantiate(cfg.model, data_shape=[1, 8, 8], num_classes=10,
                            _recursive_=False, _convert_="all")
        return LatentModel(model).frozen(), torch.rand(args.n, 1, 8, 8)
    from omegaconf import OmegaConf

    from genlab.config.instantiate import instantiate
    from genlab.runtime.checkpoint_io import load_trained

    model, train_cfg = load_trained(args.ckpt)
    data = OmegaConf.to_container(train_cfg.data, resolve=True)
    if args.data_dir:
        data["data_dir"] = args.data_dir
    dm = instantiate(data)
    dm.setup()
    test = dm.splits["test"]
    x = torch.stack([test[i][0] for i in range(min(args.n, len(test)))])
    return LatentModel(model).frozen(), x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt")
    parser.add_argument("--data-dir", default=None, help="overrides the run's data.data_dir")
    parser.add_argument("--mask", default="center")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--loop-n", type=int, default=20)
    parser.add_argument("--steps", type=int, default=100)  # conf/app/complete.yaml
    parser.add_argument("--restarts", type=int, default=2)
    parser.add_argument("--lam", type=float, default=0.1)
    parser.add_argument("--window", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.n, args.loop_n, args.steps, args.batch_size = 16, 2, 5, 8
    elif not args.ckpt:
        parser.error("--ckpt is required (or --smoke)")
    lm, x = load(args)
    fit = Fit(steps=args.steps, lr=0.05, restarts=args.restarts, lam=args.lam, norm=1)
    mask = make_mask(args.mask, len(x), x.shape[-2], x.shape[-1])
    start = time.perf_counter()
    done = batched(lm, x, mask, fit, args.window, args.batch_size, seed=0)
    batched_s = time.perf_counter() - start
    # the loop's starts: the ones the batched run drew for the first batch
    first = x[: args.loop_n]
    z0 = initial_latents(lm, masked_input(first, mask[: args.loop_n]), fit.restarts,
                         torch.Generator().manual_seed(0))
    start = time.perf_counter()
    loop = plain_loop(lm, first, mask[: args.loop_n], fit, args.window, z0)
    loop_s = time.perf_counter() - start
    same = batched(lm, first, mask[: args.loop_n], fit, args.window, args.batch_size, seed=0)
    per_batched, per_loop = batched_s / len(x), loop_s / len(first)
    result = {"n": len(x), "loop_n": len(first), "mask": args.mask, "steps": args.steps,
              "restarts": args.restarts, "batch_size": args.batch_size,
              "threads": torch.get_num_threads(),
              "batched_s": round(batched_s, 2), "batched_s_per_image": per_batched,
              "loop_s_per_image": per_loop, "loop_s_extrapolated": per_loop * len(x),
              "speedup": per_loop / per_batched,
              "max_abs_difference": float((loop - same).abs().max()),
              "completed_shape": list(done.shape)}
    print_table(f"completion, mask {args.mask}, {len(x)} images, {args.steps} steps × "
                f"{args.restarts} restarts", ["variant", "s / image", f"s for {len(x)}"],
                [["batched (genlab-apply)", f"{per_batched:.4f}", f"{batched_s:.1f}"],
                 [f"plain loop ({len(first)} timed)", f"{per_loop:.4f}",
                  f"{per_loop * len(x):.1f} (extrapolated)"]])
    print(f"speed-up (loop / batched, per image): {result['speedup']:.1f}×; "
          f"max |batched − loop| on the same starts: {result['max_abs_difference']:.2e}")
    write_result("apply_complete_smoke" if args.smoke else "apply_complete", result)


if __name__ == "__main__":
    main()
