"""genlab-sample ckpt_path=... n=64 [labels=[...]] [interpolate=true]: draw samples from a
trained model into <sample run>/samples.png and samples.npz (`images` float32 (n, C, H, W)
in [0, 1], `labels` int64 (n,) or empty); with interpolate=true also interpolation.png/.npz:
each row decodes `steps` points on the line between two latent points drawn from the prior."""

from __future__ import annotations

import math
from pathlib import Path

import hydra
from omegaconf import DictConfig

from genlab import run_dir
from genlab.cli.reporting import command_main, run_reporting_errors
from genlab.config import config_dir
from genlab.config.schema import as_list
from genlab.errors import ConfigError


def _labels(cfg: DictConfig, model, n: int):
    """(n,) class ids cycled from `labels` (one id alone is a one-element list), the
    model's default labels when it is null, None for an unconditional model."""
    import torch

    labels = as_list(cfg.labels)
    if labels is None:
        return model.default_labels(n) if model.conditional else None
    if not model.conditional:
        raise ConfigError("labels", labels, "null for unconditional models")
    if not labels or min(labels) < 0 or max(labels) >= model.num_classes:
        raise ConfigError("labels", labels, f"class ids in 0..{model.num_classes - 1}")
    given = torch.tensor(labels, dtype=torch.long)
    return given.repeat(math.ceil(n / len(given)))[:n]


def interpolation(model, rows: int, steps: int, labels):
    """(rows·steps, C, H, W): row r decodes (1 − t)·z0 + t·z1 for t in linspace(0, 1, steps)."""
    import torch

    latent_dim = model.hparams.latent_dim
    z0, z1 = torch.randn(rows, latent_dim), torch.randn(rows, latent_dim)
    t = torch.linspace(0, 1, steps).view(1, -1, 1)
    z = (z0.unsqueeze(1) * (1 - t) + z1.unsqueeze(1) * t).flatten(0, 1)
    if hasattr(model, "generate"):  # GANs: labels held fixed along each row
        row_labels = None if labels is None else labels[:rows].repeat_interleave(steps)
        return model.generate(z, row_labels)
    return model.decode(z)


def save(images, labels, stem: Path, nrow: int) -> None:
    import numpy as np
    from torchvision.utils import save_image

    images = images.detach().float().cpu().clamp(0, 1)
    save_image(images, stem.with_suffix(".png"), nrow=nrow, padding=1, pad_value=1.0)
    np.savez(stem.with_suffix(".npz"), images=images.numpy(),
             labels=np.zeros(0, np.int64) if labels is None else labels.cpu().numpy())


def run(cfg: DictConfig) -> Path:
    import torch

    from genlab.models.generative import GenerativeModel
    from genlab.runtime.checkpoints import load_trained

    model, _ = load_trained(cfg.ckpt_path, cfg.get("train_config"))
    if not isinstance(model, GenerativeModel):
        raise ConfigError("ckpt_path", str(cfg.ckpt_path), "a checkpoint of a generative "
                          f"model; {type(model).__name__} draws no samples")
    labels = _labels(cfg, model, cfg.n)  # refused before anything is written
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    with torch.no_grad():
        images = model.sample(cfg.n, labels)
        save(images, labels, out / run_dir.SAMPLES, nrow=int(math.ceil(math.sqrt(cfg.n))))
        if cfg.interpolate:
            rows = max(1, cfg.n // cfg.steps)
            save(interpolation(model, rows, cfg.steps, labels), None, out / run_dir.INTERPOLATION,
                 nrow=cfg.steps)
    print(f"samples written to {out}")
    return out


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="sample")
def _hydra_main(cfg: DictConfig) -> None:
    run_reporting_errors(run, cfg)


def main() -> None:
    """Console-script entry point (`genlab-sample`)."""
    command_main(_hydra_main, "sample")


if __name__ == "__main__":
    main()
