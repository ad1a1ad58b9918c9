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
    """(n,) class ids, grouped: each class of `labels` (one id alone is a one-element list;
    null: every class) repeated ceil(n / classes) times, so that the picture has one row
    per class; None for an unconditional model."""
    import torch

    labels = as_list(cfg.labels)
    if not model.conditional:
        if labels is not None:
            raise ConfigError("labels", labels, "null for unconditional models")
        return None
    if labels is None:
        labels = list(range(model.num_classes))
    if not labels or min(labels) < 0 or max(labels) >= model.num_classes:
        raise ConfigError("labels", labels, f"class ids in 0..{model.num_classes - 1}")
    given = torch.tensor(labels, dtype=torch.long)
    return given.repeat_interleave(math.ceil(n / len(given)))[:n]


def interpolation(model, rows: int, steps: int, labels):
    """(rows·steps, C, H, W): row r decodes (1 − t)·z0 + t·z1 for t in linspace(0, 1, steps)."""
    import torch

    latent_dim = model.hparams.latent_dim
    z0, z1 = torch.randn(rows, latent_dim), torch.randn(rows, latent_dim)
    t = torch.linspace(0, 1, steps).view(1, -1, 1)
    z = (z0.unsqueeze(1) * (1 - t) + z1.unsqueeze(1) * t).flatten(0, 1)
    if hasattr(model, "generate"):  # GANs: labels held fixed along each row
        if labels is None:
            row_labels = None
        else:  # the classes asked for, cycled over the rows, each held along its row
            classes = labels.unique_consecutive()
            row_labels = classes.repeat(math.ceil(rows / len(classes)))[:rows]
            row_labels = row_labels.repeat_interleave(steps)
        return model.generate(z, row_labels)
    return model.decode(z)


def save(images, labels, stem: Path, nrow: int, title: str,
         row_labels: list[str] | None = None) -> None:
    """<stem>.png (titled, enlarged, rows labelled: callbacks/image_logging.py) and
    <stem>.npz (`images`, `labels`)."""
    import numpy as np

    from genlab.callbacks.image_logging import grid_image, write_png

    images = images.detach().float().cpu().clamp(0, 1)
    write_png(grid_image(images, nrow, title, row_labels), stem.with_suffix(".png"), title)
    with run_dir.atomic_write(stem.with_suffix(".npz")) as f:
        np.savez(f, images=images.numpy(),
                 labels=np.zeros(0, np.int64) if labels is None else labels.cpu().numpy())


def _rows(labels, n: int) -> tuple[int, list[str] | None]:
    """Columns per row and the row captions: one row per class when conditional."""
    if labels is None:
        return int(math.ceil(math.sqrt(n))), None
    classes = list(dict.fromkeys(labels.tolist()))
    per = math.ceil(n / len(classes))
    return per, [f"class {c}" for c in classes]


def run(cfg: DictConfig) -> Path:
    import torch

    from genlab.models.generative import GenerativeModel
    from genlab.runtime.checkpoint_io import load_trained
    from genlab.runtime.environment import tweak_environment

    tweak_environment()  # the same quiet console as genlab-train
    model, _ = load_trained(cfg.ckpt_path, cfg.get("train_config"))
    if not isinstance(model, GenerativeModel):
        raise ConfigError("ckpt_path", str(cfg.ckpt_path), "a checkpoint of a generative "
                          f"model; {type(model).__name__} draws no samples")
    labels = _labels(cfg, model, cfg.n)  # refused before anything is written
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    name = f"{model.hparams.get('name', type(model).__name__)} ({Path(cfg.ckpt_path).name})"
    with torch.no_grad():
        images = model.sample(cfg.n, labels)
        nrow, captions = _rows(labels, cfg.n)
        save(images, labels, out / run_dir.SAMPLES, nrow, row_labels=captions,
             title=f"{cfg.n} samples from {name}, seed {cfg.seed}"
                   + (": one row per class" if captions else ""))
        if cfg.interpolate:
            rows = max(1, cfg.n // cfg.steps)
            save(interpolation(model, rows, cfg.steps, labels), None, out / run_dir.INTERPOLATION,
                 nrow=cfg.steps, row_labels=[f"pair {i + 1}" for i in range(rows)],
                 title=f"Linear interpolation between two latent points drawn from the prior, "
                       f"{name}: each row {cfg.steps} steps from one to the other")
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
