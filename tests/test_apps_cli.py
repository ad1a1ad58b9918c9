"""genlab-apply as a user runs it: the outputs of each app on tiny digits checkpoints, and
bad input refused in one paragraph before torch, with nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import run_cli, run_dirs
from genlab.config.preflight import preflight
from genlab.errors import ConfigError

TRAIN = ["trainer.max_epochs=1", "logger=csv", "metrics=none", "callbacks=checkpoint",
         "run_id=tiny"]
FAST = ["judge.max_epochs=1", "app.steps=10", "app.restarts=1", "batch_size=16"]
ENV = {"OMP_NUM_THREADS": "1"}


def _train(root: Path, *overrides: str) -> Path:
    proc = run_cli(*TRAIN, *overrides, cwd=root, env=ENV)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return root / "logs" / "train" / "runs" / "tiny" / "checkpoints" / "last.ckpt"


def _apply(root: Path, ckpt: Path, *overrides: str) -> Path:
    proc = run_cli(f"ckpt_path={ckpt}", *FAST, *overrides, cwd=root, module="genlab.cli.apply",
                   env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dirs(root, "apply")[-1]


def test_complete_writes_labelled_rows_npz_and_json(tmp_path: Path) -> None:
    """Rules out: a baseline left out by default, known pixels not kept, masks with 1 on the
    hole, rows that do not line up with their originals, a record without the judge."""
    ckpt = _train(tmp_path, "model.iwae_samples=0")
    out = _apply(tmp_path, ckpt, "app=complete", "app.mask=bottom_half", "n=20")
    rows = np.load(out / "complete.npz", allow_pickle=False)
    methods = ["masked_input", "model", "mean_fill", "nearest_neighbour", "biharmonic"]
    assert list(dict.fromkeys(rows["method"].tolist())) == methods
    assert rows["images"].shape == (100, 1, 8, 8) and rows["originals"].shape == (100, 1, 8, 8)
    assert rows["images"].min() >= 0 and rows["images"].max() <= 1
    masks = rows["masks"]
    assert set(np.unique(masks)) == {0.0, 1.0}
    assert masks[:, :, :4].all() and not masks[:, :, 4:].any()  # 1 = known: the top half
    completed = rows["method"] != "masked_input"
    known = masks[completed].astype(bool)
    assert np.allclose(rows["images"][completed][known], rows["originals"][completed][known])
    assert np.array_equal(rows["labels"][:20], rows["labels"][20:40])
    record = json.loads((out / "complete.json").read_text())
    assert set(record["metrics"]) == set(methods)
    assert {"hole_l1", "hole_psnr", "ssim", "judge_acc"} <= set(record["metrics"]["model"])
    assert 0 < record["judge"]["test_acc"] <= 1 and record["settings"]["mask"] == "bottom_half"
    assert (out / "complete.png").is_file() and (out / "csv" / "metrics.csv").is_file()


@pytest.mark.slow
def test_invert_interpolate_and_arithmetic_on_a_conditional_gan(tmp_path: Path) -> None:
    """Rules out: an app that fails on a GAN, a cGAN without its label-swap row, paths whose
    rows do not match steps × pairs."""
    ckpt = _train(tmp_path, "experiment=cgan_digits", "optimized_metric=null",
                  "model.generator.base_channels=8", "model.discriminator.base_channels=8")
    out = _apply(tmp_path, ckpt, "app=invert", "n=12")
    record = json.loads((out / "invert.json").read_text())
    assert {"psnr", "ssim", "judge_acc", "seconds_per_image"} <= set(record["metrics"]["model"])
    out = _apply(tmp_path, ckpt, "app=interpolate", "n=6", "app.path_steps=5")
    rows = np.load(out / "interpolate.npz")
    assert rows["images"].shape[0] == 3 * 3 * 5 and rows["path_class"].shape == (45,)
    out = _apply(tmp_path, ckpt, "app=arithmetic", "n=12", "app.pool=3")
    record = json.loads((out / "arithmetic.json").read_text())
    assert {"model", "pixel", "random_direction", "k1", "label_swap"} <= set(record["metrics"])
    assert "transfer_acc" in record["metrics"]["label_swap"]


def _fake_run(root: Path, data: dict) -> Path:
    """A run directory with a config_resolved.yaml and an (empty) checkpoint: the pre-flight
    reads only the config."""
    run = root / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config_resolved.yaml").write_text(yaml.safe_dump(
        {"data": data, "model": {"_target_": "genlab.models.gan.GAN"}}))
    ckpt = run / "checkpoints" / "last.ckpt"
    ckpt.write_bytes(b"")
    return ckpt


DIGITS = {"_target_": "genlab.data.digits.DigitsDataModule", "name": "digits",
          "val_size": 180, "test_size": 360}


@pytest.mark.parametrize(("overrides", "key", "data"), [
    (["app.lam=-1"], "app.lam", DIGITS),
    (["app=invert", "app.steps=-5"], "app.steps", DIGITS),
    (["app.mask=box", "app.box=[2,2,7,3]"], "app.box", DIGITS),
    (["app.mask=box"], "app.box", DIGITS),
    (["app.window=4"], "app.window", DIGITS),
    (["n=400"], "n", DIGITS),
    (["app.mask=middle"], "app.mask", DIGITS),
    (["app.prior=uniform"], "app.prior", DIGITS),
    (["app=arithmetic"], "app", {"_target_": "genlab.data.image_folder.ImageFolderDataModule",
                                 "image_size": 64}),
    (["app=invert"], "ckpt_path", {"_target_": "genlab.data.toy2d.Ring8"}),
])
def test_bad_input_is_one_paragraph_before_torch_and_nothing_is_written(
        tmp_path: Path, overrides: list[str], key: str, data: dict) -> None:
    """Rules out: a refusal that only comes after the model is loaded (or never), and a run
    directory made for a command that was refused."""
    ckpt = _fake_run(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        preflight([f"ckpt_path={ckpt}", f"paths.root_dir={tmp_path}", *overrides], "apply")
    assert err.value.key == key
    assert not (tmp_path / "logs" / "apply").exists()


@pytest.mark.parametrize(("split", "n", "allowed"), [("test", 21, "at most 20"),
                                                     ("train", 51, "at most 50")])
def test_more_images_than_an_mnist_split_holds_is_refused_from_its_files(
        tmp_path: Path, split: str, n: int, allowed: str) -> None:
    """MNIST's split sizes are known from its IDX headers (20 test images; 60 train minus
    data.val_size = 10): refused before Hydra makes a run directory. Rules out the refusal
    that came only after the model and data were loaded, which left apply.log and .hydra
    in a run directory of a refused command."""
    from fake_datasets import write_mnist

    write_mnist(tmp_path / "data", n_train=60, n_test=20)
    ckpt = _fake_run(tmp_path, {"_target_": "genlab.data.torchvision_sets.TorchvisionDataModule",
                                "dataset": "mnist", "data_dir": str(tmp_path / "data"),
                                "val_size": 10})
    args = [f"ckpt_path={ckpt}", f"paths.root_dir={tmp_path}", f"split={split}"]
    with pytest.raises(ConfigError, match=allowed) as err:
        preflight([*args, f"n={n}"], "apply")
    assert err.value.key == "n" and "idx3-ubyte" in str(err.value)
    preflight([*args, f"n={n - 1}"], "apply")  # the whole split is allowed
    assert not (tmp_path / "logs" / "apply").exists()


def test_a_refused_command_exits_2_with_one_paragraph(tmp_path: Path) -> None:
    """Rules out: Hydra's traceback or exit code 1 for a negative λ."""
    ckpt = _fake_run(tmp_path, DIGITS)
    proc = run_cli(f"ckpt_path={ckpt}", "app.lam=-0.5", cwd=tmp_path, module="genlab.cli.apply",
                   env=ENV)
    assert proc.returncode == 2 and "app.lam" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "logs" / "apply").exists()
