"""Framework overhead: training steps per second of genlab vs a plain PyTorch loop with the
same nets, batch size, optimiser and in-memory data, for the VAE (`model=vae data=digits`,
the default preset) and the DCGAN (`model=dcgan data=digits` at the `dcgan_digits`
preset's batch size).

genlab side: the real configs composed with Hydra and trained by `genlab.train.run`
(trackers, extra callbacks, validation, checkpoints and test off), timed by a callback
from the start of batch `warmup` to the end of the last batch. Plain side: copies of the
same instantiated nets, the same optimiser class and hyper-parameters, the training split
as one tensor batched by `randperm` indexing, the same per-step computation as the model's
`training_step` without logging. Bare Lightning: the plain loop's step in a minimal
LightningModule (automatic optimisation for the VAE, manual with `toggled_optimizer` for
the GAN, as genlab's models) on the plain loop's batches, loggers and callbacks off — the
floor any Lightning model pays, which separates Lightning's per-step cost from genlab's. A
step is one batch everywhere (for the GAN one D step and one G step). The variants
alternate in one process, `rounds` times; a ratio is seconds per step over seconds per
step (median of the per-round ratios); the target is genlab / plain ≤ 1.10.

    python benchmarks/overhead.py                 # full size
    python benchmarks/overhead.py --smoke         # tiny, for the test suite
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import logging
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))  # step_clock, harness

import harness  # noqa: E402
from step_clock import StepClock  # noqa: E402

QUIET = [
    "logger=none", "callbacks=none", "metrics=none", "trainer.accelerator=cpu",
    "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
    "++trainer.enable_checkpointing=false", "++trainer.limit_val_batches=0", "test=false",
    "+callbacks.step_clock._target_=step_clock.StepClock",
]
TARGET_RATIO = 1.10            # genlab / plain loop, 8×8 digits presets
TARGET_RATIO_REAL_SIZE = 1.05  # genlab / plain loop, MNIST-size presets
TARGET_RATIO_LIGHTNING = 1.05  # genlab / bare Lightning, every preset
SHARED_DATA = harness.SHARED_DATA

Split = tuple[torch.Tensor, torch.Tensor | None]


@dataclass(frozen=True)
class Case:
    """One preset: its overrides, optimiser steps per batch (Lightning's global_step counts
    each optimiser), the plain loop's step builder, the bare LightningModule, timed batches
    per run, and whether it reads the real MNIST (`--data-dir`)."""

    name: str
    overrides: tuple[str, ...]
    optimizer_steps_per_batch: int
    plain_step: Callable[[nn.Module], Callable[[torch.Tensor, torch.Tensor | None], None]]
    bare_module: Callable[[nn.Module], nn.Module]
    steps: int
    mnist: bool = False

    @property
    def target(self) -> float:
        return TARGET_RATIO_REAL_SIZE if self.mnist else TARGET_RATIO


DATA_DIR: list[Path] = [SHARED_DATA]  # set by --data-dir


def case_overrides(case: Case) -> list[str]:
    real = [f"paths.data_dir={DATA_DIR[0]}", "data.val_size=500"] if case.mnist else []
    return [*case.overrides, *real]


# --- the plain loops: what a researcher would write ----------------------------------------
def optimizer(params, partial: dict) -> torch.optim.Optimizer:
    """The optimiser of a `_partial_` config dict, built by hand: class and hyper-parameters."""
    from hydra.utils import get_class

    kwargs = {k: v for k, v in partial.items() if k not in ("_target_", "_partial_")}
    return get_class(partial["_target_"])(params, **kwargs)


def vae_loss(encoder: nn.Module, decoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The negative ELBO with dynamic binarisation (genlab/models/vae.py, bernoulli)."""
    x = torch.bernoulli(x)
    mu, logvar = encoder(x).chunk(2, dim=-1)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    recon = -F.binary_cross_entropy_with_logits(decoder(z), x, reduction="none")
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)
    return -(recon.flatten(1).sum(-1) - kl).mean()


def players(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """Copies of the model's generator and discriminator."""
    return copy.deepcopy(model.generator), copy.deepcopy(model.discriminator)


def gan_d_loss(g: nn.Module, d: nn.Module, x: torch.Tensor, y: torch.Tensor | None,
               latent_dim: int) -> torch.Tensor:
    """The discriminator's loss on real x ∈ [0, 1] and G's samples (genlab/models/gan/objective.py);
    y: the labels of a conditional GAN (G and D both take them), else None."""
    x = x * 2 - 1
    cond = () if y is None else (y,)
    with torch.no_grad():
        fake = g(torch.randn(len(x), latent_dim), *cond)
    real_logits, fake_logits = d(x, *cond), d(fake, *cond)
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def gan_g_loss(g: nn.Module, d: nn.Module, y: torch.Tensor | None, batch_size: int,
               latent_dim: int) -> torch.Tensor:
    """The generator's non-saturating loss (on the real batch's labels, as genlab)."""
    cond = () if y is None else (y,)
    return -F.logsigmoid(d(g(torch.randn(batch_size, latent_dim), *cond), *cond)).mean()


def plain_vae_step(model: nn.Module) -> Callable[[torch.Tensor, torch.Tensor | None], None]:
    """One step of the ELBO with dynamic binarisation (genlab/models/vae.py, bernoulli)."""
    encoder, decoder = copy.deepcopy(model.encoder), copy.deepcopy(model.decoder)
    opt = optimizer([*encoder.parameters(), *decoder.parameters()], model.hparams.optimizer)

    def step(x: torch.Tensor, _y: torch.Tensor | None) -> None:
        loss = vae_loss(encoder, decoder, x)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def plain_gan_step(model: nn.Module) -> Callable[[torch.Tensor, torch.Tensor | None], None]:
    """One D step then one G step, non-saturating (genlab/models/gan/module.py, d_steps=1)."""
    g, d = players(model)
    opt_g = optimizer(g.parameters(), model.hparams.optimizer_g)
    opt_d = optimizer(d.parameters(), model.hparams.optimizer_d)
    latent_dim = model.hparams.latent_dim

    def step(x: torch.Tensor, y: torch.Tensor | None) -> None:
        d_loss = gan_d_loss(g, d, x, y, latent_dim)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        d.requires_grad_(False)  # as Lightning's toggled_optimizer: no grads for D in G's step
        g_loss = gan_g_loss(g, d, y, len(x), latent_dim)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        d.requires_grad_(True)

    return step


# --- bare Lightning: the same steps in a minimal LightningModule, no genlab code -------------
def bare_vae_module(model: nn.Module):
    """Automatic optimisation, as genlab's VAE."""
    import lightning as L

    class BareVAE(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = copy.deepcopy(model.encoder)
            self.decoder = copy.deepcopy(model.decoder)

        def training_step(self, batch, batch_idx: int) -> torch.Tensor:
            return vae_loss(self.encoder, self.decoder, batch[0])

        def configure_optimizers(self):
            return optimizer(self.parameters(), model.hparams.optimizer)

    return BareVAE()


def bare_gan_module(model: nn.Module):
    """Manual optimisation with toggled_optimizer and manual_backward, as genlab's GAN."""
    import lightning as L

    latent_dim = model.hparams.latent_dim

    class BareGAN(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False
            self.generator, self.discriminator = players(model)

        def training_step(self, batch, batch_idx: int) -> None:
            x, y = batch
            opt_g, opt_d = self.optimizers()
            g, d = self.generator, self.discriminator
            with self.toggled_optimizer(opt_d):
                d_loss = gan_d_loss(g, d, x, y, latent_dim)
                opt_d.zero_grad()
                self.manual_backward(d_loss)
                opt_d.step()
            with self.toggled_optimizer(opt_g):
                g_loss = gan_g_loss(g, d, y, len(x), latent_dim)
                opt_g.zero_grad()
                self.manual_backward(g_loss)
                opt_g.step()

        def configure_optimizers(self):
            return [optimizer(self.generator.parameters(), model.hparams.optimizer_g),
                    optimizer(self.discriminator.parameters(), model.hparams.optimizer_d)]

    return BareGAN()


def shuffled_batches(x: torch.Tensor, y: torch.Tensor | None, batch_size: int):
    """One epoch of the plain loop's batches: `randperm` indexing of the split's tensors
    (labels only for a conditional model)."""
    order = torch.randperm(len(x))
    for i in range(0, len(x), batch_size):
        idx = order[i : i + batch_size]
        yield x[idx], None if y is None else y[idx]


class ShuffledBatches:
    """The plain loop's batches as a Lightning train loader."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor | None, batch_size: int) -> None:
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __iter__(self):
        return shuffled_batches(self.x, self.y, self.batch_size)


def bare_lightning_steps_per_second(case: Case, model: nn.Module, data: Split,
                                    batch_size: int, steps: int, warmup: int) -> float:
    import lightning as L

    clock = StepClock()
    trainer = L.Trainer(
        accelerator="cpu", devices=1, max_steps=(warmup + steps) * case.optimizer_steps_per_batch,
        logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, callbacks=[clock])
    with contextlib.redirect_stdout(io.StringIO()):
        trainer.fit(case.bare_module(model), train_dataloaders=ShuffledBatches(*data, batch_size))
    if len(clock.starts) != warmup + steps:
        raise RuntimeError(f"{case.name}: Lightning ran {len(clock.starts)} batches")
    return clock.steps_per_second(warmup)


GAN = ("optimized_metric=null",)  # its default monitors the metric suite, which is off
CASES = {
    "vae": Case("vae", ("model=vae", "data=digits"), 1, plain_vae_step, bare_vae_module, 400),
    "dcgan": Case("dcgan", ("model=dcgan", "data=digits", "data.batch_size=128", *GAN), 2,
                  plain_gan_step, bare_gan_module, 100),
    # the presets researchers run: conv VAE on 28×28, DCGAN and projection cGAN at 32×32
    "vae_mnist": Case("vae_mnist", ("experiment=vae_mnist",), 1, plain_vae_step,
                      bare_vae_module, 60, mnist=True),
    "dcgan_mnist": Case("dcgan_mnist", ("experiment=dcgan_mnist", *GAN), 2, plain_gan_step,
                        bare_gan_module, 12, mnist=True),
    "cgan_mnist": Case("cgan_mnist", ("experiment=cgan_mnist", *GAN), 2, plain_gan_step,
                       bare_gan_module, 20, mnist=True),
}


def plain_steps_per_second(step: Callable[[torch.Tensor, torch.Tensor | None], None],
                           data: Split, batch_size: int, steps: int, warmup: int) -> float:
    """Run `warmup + steps` batches through `step` in shuffled epochs; batches per second
    from the start of batch `warmup` to the end of the last."""
    done, start = 0, 0.0
    while True:
        for x, y in shuffled_batches(*data, batch_size):
            if done == warmup:
                start = time.perf_counter()
            step(x, y)
            done += 1
            if done == warmup + steps:
                return steps / (time.perf_counter() - start)


# --- the genlab side --------------------------------------------------------------------------
def compose(overrides: list[str], root: Path):
    """The train config as `genlab-train` would see it, writing under `root` (the output
    dir set directly, so no Hydra runtime is needed)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from genlab.config import config_dir

    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        return hydra_compose("train", overrides=[
            f"paths.root_dir={root}", f"paths.output_dir={root / 'run'}", *overrides])


def genlab_steps_per_second(case: Case, steps: int, warmup: int, extra: list[str]) -> float:
    from genlab.train import run

    batches = warmup + steps
    overrides = [*QUIET, *case_overrides(case), *extra,
                 f"++trainer.max_steps={batches * case.optimizer_steps_per_batch}"]
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        run(compose(overrides, Path(tmp)))
    clock = StepClock.latest
    if len(clock.starts) != batches:
        raise RuntimeError(f"{case.name}: genlab ran {len(clock.starts)} batches, not {batches}")
    return clock.steps_per_second(warmup)


@contextlib.contextmanager
def logging_disabled():
    """LightningModule.log (and so log_dict) as a no-op: isolates the cost of logging."""
    import lightning as L

    log = L.LightningModule.log
    L.LightningModule.log = lambda *args, **kwargs: None
    try:
        yield
    finally:
        L.LightningModule.log = log


def training_setup(case: Case, extra: list[str]) -> tuple[nn.Module, Split, int]:
    """The model genlab builds from the config, the training split as tensors (images, and
    labels for a conditional model), and the batch size."""
    from genlab.config.instantiate import instantiate

    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose([*QUIET, *case_overrides(case), *extra], Path(tmp))
    torch.manual_seed(cfg.seed)
    dm = instantiate(cfg.data)
    dm.setup("fit")
    model = instantiate(cfg.model, data_shape=list(dm.shape), num_classes=dm.num_classes,
                        _recursive_=False, _convert_="all")
    x, y = dm.splits["train"].tensors
    return model, (x, y if getattr(model, "conditional", False) else None), \
        int(cfg.data.batch_size)


def measure(case: Case, rounds: int, steps: int, warmup: int, extra: list[str],
            split_logging: bool) -> dict:
    model, data, batch_size = training_setup(case, extra)

    def genlab_without_logging() -> float:
        with logging_disabled():
            return genlab_steps_per_second(case, steps, warmup, extra)

    def plain() -> float:
        torch.manual_seed(0)
        return plain_steps_per_second(case.plain_step(model), data, batch_size, steps, warmup)

    def lightning() -> float:
        torch.manual_seed(0)
        return bare_lightning_steps_per_second(case, model, data, batch_size, steps, warmup)

    variants = {"genlab": lambda: genlab_steps_per_second(case, steps, warmup, extra),
                "plain": plain, "lightning": lightning}
    if split_logging:
        variants["genlab_without_logging"] = genlab_without_logging
    rates = harness.alternate(variants, rounds)
    # seconds per step, genlab over plain = plain steps/s over genlab steps/s
    split = {} if not split_logging else {
        "genlab_without_logging_steps_per_s": rates["genlab_without_logging"],
        "genlab_without_logging_median_steps_per_s": harness.median(
            rates["genlab_without_logging"]),
        "ratio_without_logging": harness.paired_ratio(rates["plain"],
                                                      rates["genlab_without_logging"]),
    }
    return {
        "batch_size": batch_size,
        "genlab_steps_per_s": rates["genlab"],
        "plain_steps_per_s": rates["plain"],
        "genlab_median_steps_per_s": harness.median(rates["genlab"]),
        "plain_median_steps_per_s": harness.median(rates["plain"]),
        "ratio": harness.paired_ratio(rates["plain"], rates["genlab"]),
        "target_ratio": case.target,
        "target_ratio_lightning": TARGET_RATIO_LIGHTNING,
        "real_size": case.mnist,
        # the floor any LightningModule pays here, and what genlab adds on top of it
        "lightning_steps_per_s": rates["lightning"],
        "lightning_median_steps_per_s": harness.median(rates["lightning"]),
        "ratio_lightning_over_plain": harness.paired_ratio(rates["plain"], rates["lightning"]),
        "ratio_genlab_over_lightning": harness.paired_ratio(rates["lightning"], rates["genlab"]),
        **split,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=None, choices=list(CASES),
                        help="default: all (the MNIST ones when --data-dir holds MNIST)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", nargs="*", default=[], metavar="MODEL=N",
                        help="timed batches per run, e.g. vae=400 dcgan_mnist=12 "
                             "(defaults: " + ", ".join(f"{c.name}={c.steps}"
                                                       for c in CASES.values()) + ")")
    parser.add_argument("--warmup", type=int, default=10, help="untimed batches per run")
    parser.add_argument("--data-dir", type=Path, default=SHARED_DATA,
                        help="the folder holding MNIST/raw for the MNIST presets "
                             "(default: ../shared/data beside the repository)")
    parser.add_argument("--override", nargs="*", default=[],
                        help="extra Hydra overrides of the genlab side (data.in_memory=false)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads, both sides (0: torch's default); one "
                             "keeps a shared machine's other jobs from stalling the compute")
    parser.add_argument("--split-logging", action="store_true",
                        help="also time genlab with LightningModule.log a no-op")
    parser.add_argument("--smoke", action="store_true", help="1 round of a few steps")
    parser.add_argument("--out-dir", type=Path, default=None, help="default benchmarks/results")
    args = parser.parse_args()
    DATA_DIR[0] = args.data_dir.resolve()
    have_mnist = (DATA_DIR[0] / "MNIST" / "raw").is_dir()
    models = args.models or [n for n, c in CASES.items() if have_mnist or not c.mnist]
    if not have_mnist and any(CASES[n].mnist for n in models):
        parser.error(f"--data-dir {args.data_dir}: no MNIST/raw there for "
                     f"{', '.join(n for n in models if CASES[n].mnist)}")
    if not have_mnist:
        print(f"note: no MNIST under {DATA_DIR[0]}: the MNIST presets are left out")
    steps = {name: CASES[name].steps for name in models}
    for item in args.steps:
        name, _, n = item.partition("=")
        if name not in steps or not n.isdigit():
            parser.error(f"--steps {item}: expected MODEL=N with MODEL one of {list(steps)}")
        steps[name] = int(n)
    if args.smoke:
        args.rounds, args.warmup = 1, 1
        steps = {name: 2 for name in models}
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    results = {name: measure(CASES[name], args.rounds, steps[name], args.warmup, args.override,
                             args.split_logging)
               for name in models}
    harness.print_table(
        f"genlab vs plain PyTorch loop: steps/s (median of {args.rounds} alternated rounds)",
        ["model", "batch", "genlab steps/s", "bare Lightning steps/s", "plain steps/s",
         "genlab/plain", "target", "Lightning/plain", "genlab/Lightning", "target"],
        [[name, str(r["batch_size"]), f"{r['genlab_median_steps_per_s']:.2f}",
          f"{r['lightning_median_steps_per_s']:.2f}", f"{r['plain_median_steps_per_s']:.2f}",
          f"{r['ratio']:.3f}", f"≤ {r['target_ratio']}", f"{r['ratio_lightning_over_plain']:.3f}",
          f"{r['ratio_genlab_over_lightning']:.3f}", f"≤ {TARGET_RATIO_LIGHTNING}"]
         for name, r in results.items()])
    for name, r in results.items():
        print(f"ratio {name} genlab/plain (s per step): {r['ratio']:.3f}")
        print(f"ratio {name} bare Lightning/plain (s per step): "
              f"{r['ratio_lightning_over_plain']:.3f}")
        print(f"ratio {name} genlab/bare Lightning (s per step): "
              f"{r['ratio_genlab_over_lightning']:.3f}")
        if args.split_logging:
            print(f"ratio {name} genlab without self.log/plain (s per step): "
                  f"{r['ratio_without_logging']:.3f}")
    harness.write_result("overhead", {
        "settings": {"rounds": args.rounds, "steps": steps, "warmup": args.warmup,
                     "overrides": args.override, "threads": torch.get_num_threads(),
                     "data_dir": str(DATA_DIR[0]) if have_mnist else None,
                     "split_logging": args.split_logging,
                     "smoke": args.smoke},
        "results": results,
    }, args.out_dir)


if __name__ == "__main__":
    main()
