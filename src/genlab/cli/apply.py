"""genlab-apply ckpt_path=... app=invert|complete|arithmetic|interpolate: what a trained image
model is for (genlab/apps/), on `n` seeded images of a split of its data, measured beside
the app's baselines by the judge (the metric classifier), whose test accuracy is reported
with the numbers. Writes <app>.png (labelled rows), <app>.npz (one row per image and method:
`images`, `originals` (N, C, H, W) float in [0, 1], `labels`, `method`, and `masks` for
completion, 1 = known) and <app>.json (metrics per method, the judge's accuracy, the
settings) into the apply run directory, and logs the metrics and figure to the loggers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from genlab import run_dir
from genlab.cli.reporting import command_main, run_reporting_errors
from genlab.config import config_dir
from genlab.errors import ConfigError


def prepare(cfg: DictConfig) -> dict[str, Any]:
    """The model, its data module and split, the judge; refusals before anything is written."""
    from genlab.callbacks.sample_quality import data_key
    from genlab.config.instantiate import instantiate
    from genlab.models.generative import is_image_model
    from genlab.runtime.checkpoint_io import load_trained

    model, train_cfg = load_trained(cfg.ckpt_path, cfg.get("train_config"))
    if not is_image_model(model):
        raise ConfigError("ckpt_path", str(cfg.ckpt_path), "a checkpoint of an image model "
                          "(VAE, conv VAE, DCGAN, cGAN)",
                          f"{type(model).__name__} on {getattr(model, 'data_shape', '?')} data "
                          "has no images to invert, complete or interpolate.")
    data = OmegaConf.to_container(OmegaConf.merge(train_cfg.data, cfg.data), resolve=True)
    datamodule = instantiate(data)
    datamodule.setup()
    split = datamodule.splits[cfg.split]
    if cfg.n > len(split):
        raise ConfigError("n", cfg.n, f"at most {len(split)}, the size of the {cfg.split} split")
    if cfg.app.name == "arithmetic" and not datamodule.num_classes:
        raise ConfigError("app", "arithmetic", "invert, complete or interpolate",
                          "Class arithmetic needs labelled data; this data has none.")
    judge = None
    if datamodule.num_classes:
        judge = instantiate(OmegaConf.to_container(cfg.judge, resolve=True),
                            datamodule=datamodule, data_key=data_key(data),
                            _recursive_=False, _convert_="all")
    return {"model": model, "datamodule": datamodule, "split": split, "judge": judge}


def images_of(dataset: Any, indices: Any) -> tuple[Any, Any]:
    import torch

    pairs = [dataset[int(i)] for i in indices]
    return (torch.stack([p[0] for p in pairs]),
            torch.tensor([int(p[1]) for p in pairs], dtype=torch.long))


def run_app(cfg: DictConfig, parts: dict[str, Any]) -> Any:
    import torch

    from genlab.apps import measured
    from genlab.apps.latent import LatentModel

    generator = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    pick = torch.randperm(len(parts["split"]), generator=generator)[: cfg.n]
    x, y = images_of(parts["split"], pick)
    judge = parts["judge"]
    logits = (lambda images: judge(images)[1]) if judge is not None else None
    lm = LatentModel(parts["model"]).frozen()
    app, name = OmegaConf.to_container(cfg.app, resolve=True), cfg.app.name
    common = (lm, x, y, logits, app, cfg.batch_size, generator)
    train = parts["datamodule"].splits["train"]
    if name == "invert":
        features = None
        if app.get("feature_weight") and judge is not None:
            features = lambda images: judge.classifier.net.features_and_logits(images)[0]  # noqa: E731
        return measured.run_invert(*common, features=features)
    if name == "interpolate":
        return measured.run_interpolate(*common)
    if name == "complete":
        return measured.run_complete(*common, train=images_of(train, range(len(train)))[0])
    pool_x, pool_y = images_of(train, range(len(train)))
    classes = parts["datamodule"].num_classes
    keep = torch.cat([(pool_y == c).nonzero().view(-1)[: app["pool"]] for c in range(classes)])
    return measured.run_arithmetic(*common, pool_x=pool_x[keep], pool_y=pool_y[keep],
                                   num_classes=classes)


def report(cfg: DictConfig, parts: dict[str, Any], result: Any, out: Path) -> dict[str, Any]:
    """<app>.png, .npz, .json in `out`, and the metrics and figure to the loggers."""
    import numpy as np
    import torch

    from genlab.apps.figures import labelled_rows

    name = cfg.app.name
    judge = parts["judge"]
    record = {"app": name, "metrics": result.metrics, "ckpt_path": str(cfg.ckpt_path),
              "split": cfg.split, "n": cfg.n, "seed": cfg.seed,
              "judge": None if judge is None else {
                  "test_acc": judge.accuracy("test", parts["datamodule"]),
                  "val_acc": judge.accuracy("val", parts["datamodule"]),
                  "entry": str(judge.entry)},
              "settings": OmegaConf.to_container(cfg.app, resolve=True)}
    labelled_rows(result.figure, result.title, out / f"{name}.png")
    arrays = {"images": torch.cat(result.images).numpy(),
              "originals": torch.cat(result.originals).numpy(),
              "labels": torch.cat(result.labels).numpy(),
              "method": np.array(result.method)}
    if result.masks:
        arrays["masks"] = torch.cat(result.masks).numpy()
    arrays.update({k: torch.cat(v).numpy() for k, v in result.extra.items()})
    with run_dir.atomic_write(out / f"{name}.npz") as f:
        np.savez(f, **arrays)
    run_dir.write_json(out / f"{name}.json", record)
    log_to_trackers(cfg, record, out / f"{name}.png", arrays)
    return record


def log_to_trackers(cfg: DictConfig, record: dict[str, Any], png: Path, arrays: dict) -> None:
    """Metrics as `<app>/<method>/<name>`, the figure, and a W&B Table of per-image rows."""
    from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

    from genlab.runtime.trackers import build_loggers, finish_loggers

    loggers = build_loggers(cfg.get("logger"), str(png.parent))
    flat = {f"{record['app']}/{method}/{key}": value
            for method, values in record["metrics"].items() for key, value in values.items()}
    if record["judge"]:
        flat[f"{record['app']}/judge_test_acc"] = record["judge"]["test_acc"]
    for logger in loggers:
        logger.log_metrics(flat, step=0)
        if isinstance(logger, WandbLogger):
            import wandb

            logger.log_image(key=f"{record['app']}/figure", images=[str(png)], step=0)
            rows = [[int(i), m, int(label), wandb.Image(image.transpose(1, 2, 0))]
                    for i, (m, label, image) in enumerate(zip(
                        arrays["method"], arrays["labels"], arrays["images"], strict=True))][:2000]
            logger.log_table(key=f"{record['app']}/rows",
                             columns=["row", "method", "label", "image"], data=rows, step=0)
        elif isinstance(logger, TensorBoardLogger):
            from PIL import Image
            from torchvision.transforms.functional import pil_to_tensor

            with Image.open(png) as img:
                logger.experiment.add_image(f"{record['app']}/figure",
                                            pil_to_tensor(img.convert("RGB")), 0)
        logger.save()
    finish_loggers(loggers)


def run(cfg: DictConfig) -> dict[str, Any]:
    from rich.console import Console

    from genlab.console import metrics_table

    parts = prepare(cfg)
    result = run_app(cfg, parts)
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    record = report(cfg, parts, result, out)
    Console().print(metrics_table({f"{m}/{k}": v for m, values in record["metrics"].items()
                                   for k, v in values.items()}))
    if record["judge"]:
        print(f"judge (metric classifier) test accuracy: {record['judge']['test_acc']:.3f}")
    print(f"{cfg.app.name} written to {out}")
    return record


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="apply")
def _hydra_main(cfg: DictConfig) -> None:
    run_reporting_errors(run, cfg)


def main() -> None:
    """Console-script entry point (`genlab-apply`)."""
    command_main(_hydra_main, "apply")


if __name__ == "__main__":
    main()
