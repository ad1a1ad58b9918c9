"""What a run leaves behind: the offline W&B run, CSV metrics, images, config."""

import sys
from pathlib import Path

from omegaconf import OmegaConf

from genlab.cli.train import run
from wandb_records import config, history, offline_run_dir, records


def assert_readable(png: Path) -> None:
    """A picture a researcher reads as it is: says what it shows (the PNG's Title chunk,
    written with the title drawn on it), and no side under 256 px (8×8 digits used to come
    out as 46×37 px). Rules out untitled grids and unenlarged small images."""
    from PIL import Image

    with Image.open(png) as img:
        assert len(img.text.get("Title", "")) > 15, png
        assert min(img.size) >= 256, (png, img.size)


def test_offline_wandb_run_holds_config_history_and_images(compose_cfg, tmp_path: Path) -> None:
    cfg = compose_cfg("logger=many", "trainer.max_epochs=2", "model.iwae_samples=5",
                      "model.latent_dim=2", "callbacks.samples.every_n_epochs=1",
                      "callbacks.reconstructions.every_n_epochs=1",
                      "callbacks.progress_bar=null",
                      "trainer.log_every_n_steps=10")  # train rows inside each 20-step epoch
    run(cfg)
    out = tmp_path / "run"
    recs = records(offline_run_dir(out))
    conf = config(recs)
    # flat, typed keys that dashboards filter and group by
    assert conf["model.latent_dim"] == 2 and conf["data.batch_size"] == 64
    assert conf["model.likelihood"] == "bernoulli" and conf["seed"] == 42
    hist = history(recs)
    train = [h["train/elbo"] for h in hist if "train/elbo" in h]
    val = [h["val/elbo"] for h in hist if "val/elbo" in h]
    assert len(train) >= 3 and len(val) == 2
    image_keys = {k.split(".")[0] for h in hist for k, v in h.items()
                  if k.endswith("._type") and v.startswith("images")}
    assert {"samples", "reconstructions", "latent_space", "interpolation"} <= image_keys, hist[-1]
    run_record = next(r["run"] for r in recs if r["type"] == "run")
    assert run_record["project"] == "genlab" and run_record["display_name"] == "digits-vae"
    # the same files exist on disk, and the CSV log is written alongside
    images = {p.name for p in (out / "images").iterdir()}
    assert {"samples_epoch001.png", "reconstructions_epoch001.png", "latent_space_test.png",
            "interpolation_test.png"} <= images
    for png in (out / "images").glob("*.png"):
        assert_readable(png)
    assert (out / "csv" / "metrics.csv").read_text().count("val/elbo") == 1
    assert (out / "tensorboard").is_dir()
    saved = OmegaConf.load(out / "config_resolved.yaml")
    assert saved.model.latent_dim == 2


def test_one_wandb_run_per_training_run(compose_cfg, tmp_path: Path) -> None:
    for i in range(2):
        cfg = compose_cfg("logger=wandb", "debug=limit", "model.iwae_samples=2", "callbacks=none",
                          output_dir=tmp_path / f"run{i}")
        run(cfg)
    ids = [offline_run_dir(tmp_path / f"run{i}").name.rsplit("-", 1)[-1] for i in range(2)]
    assert ids[0] != ids[1]
    assert "wandb" in sys.modules  # imported lazily by the logger, not by genlab itself
