"""GAN presets run end to end: fast_dev_run, W&B offline records, pictures, checkpoints,
and a seeded short ring8 run that covers the modes."""

import json
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import run_cli
from genlab.train import run
from wandb_records import history, offline_run_dir, records


@pytest.mark.parametrize("preset", ["gan_ring8", "gan_grid25", "dcgan_digits", "cgan_digits"])
def test_fast_dev_run(compose_cfg, tmp_path: Path, preset: str, one_thread) -> None:
    # image presets choose their best checkpoint on the metric suite's FID: keep it on, tiny
    suite = ["metrics=default", "metrics.n_samples=100", "metrics.kid_subset_size=50",
             "metrics.features.max_epochs=1"] if "digits" in preset else []
    run(compose_cfg(f"experiment={preset}", "debug=fast", *suite))
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_cgan_digits_logs_to_wandb_and_draws_one_row_per_class(compose_cfg, tmp_path: Path,
                                                               one_thread) -> None:
    cfg = compose_cfg("experiment=cgan_digits", "logger=wandb", "trainer.max_epochs=2",
                      "optimized_metric=null",
                      "+trainer.limit_train_batches=3", "+trainer.limit_val_batches=1",
                      "trainer.log_every_n_steps=1",
                      "model.generator.base_channels=8", "model.discriminator.base_channels=8",
                      "callbacks.class_grid.every_n_epochs=1", "callbacks.d_trace.every_n_epochs=1")
    run(cfg)
    out = tmp_path / "run"
    hist = history(records(offline_run_dir(out)))
    logged = {k for h in hist for k in h}
    assert {"train/d_loss", "train/g_loss", "train/d_real", "train/d_fake"} <= logged
    assert {"class_grid", "d_trace", "samples"} <= {k.split(".")[0] for k in logged}
    # one row per class (10 digits), one column per fixed noise vector (8); 8×8 tiles are
    # enlarged to 32 px with 1 px padding
    with Image.open(out / "images" / "class_grid_epoch001.png") as img:
        assert img.size == (8 * 33 + 1, 10 * 33 + 1)
    ckpt = next((out / "checkpoints").glob("*.ckpt"))
    state = torch.load(ckpt, weights_only=True)
    assert state["hyper_parameters"]["conditional"] is True


@pytest.mark.slow
def test_seeded_ring8_run_covers_the_modes(compose_cfg, tmp_path: Path, one_thread) -> None:
    start = time.time()
    # keep the checkpoint with the most modes on validation; test measures it on new points
    run(compose_cfg("experiment=gan_ring8", "trainer.max_epochs=10",
                    "optimized_metric=val/modes"))
    out = tmp_path / "run"
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    print(f"ring8, 10 epochs: {metrics} in {time.time() - start:.0f} s")
    assert metrics["test/modes"] >= 7
    images = {p.name.rsplit("_", 1)[0] for p in (out / "images").iterdir()}
    assert {"toy_scatter", "d_trace"} <= images


def test_gan_preset_from_the_command_line(tmp_path: Path) -> None:
    res = run_cli("experiment=gan_ring8", "debug=fast", "logger=csv", cwd=tmp_path,
                  env={"OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
