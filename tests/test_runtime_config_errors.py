"""Values only the data can refuse (its size is known once its files are read): one
paragraph naming the key and the allowed range, exit 2, no traceback, raised when the data
is loaded, before any training — so no checkpoint, no cached classifier or reference
statistics and no temporary file is left behind. (What the config alone decides, such as
the digits' split sizes, is refused before torch is imported: tests/test_config_errors.py.)

How these fail: without the split-size checks of genlab/callbacks/sample_quality.py the
image-folder cases die in torchmetrics' KID ("subset_size should be smaller than the number
of samples") or in torch.load of a best checkpoint that was never written, after the
metric classifier was trained and cached; the MNIST test-split case the same at test time,
after training wrote its checkpoints.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_cli
from fake_datasets import write_mnist, write_png_folder

pytestmark = pytest.mark.slow

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SHORT = ["logger=csv", "trainer.max_epochs=1", "model.iwae_samples=2",
         "trainer.enable_progress_bar=false"]
SUITE = ["metrics.n_samples=20", "metrics.features.max_epochs=1"]
FOLDER = ["data=image_folder", "data.root=${paths.data_dir}/images", "data.num_workers=0"]


def _six_images(data: Path) -> None:
    write_png_folder(data / "images", ["a", "b"], n_per_class=3)


def _mnist_one_test_image(data: Path) -> None:
    write_mnist(data, n_train=30, n_test=1)


def _mnist(data: Path) -> None:
    write_mnist(data, n_train=30, n_test=10)


# (data written by the test, overrides, the paragraph's text)
CASES = [
    (_six_images, FOLDER,  # 10 % of 6 images: 1 val image
     "`data.val_fraction` = 0.1; allowed: a fraction ≥ 0.3333 (2 of the 6 images"),
    (_six_images, [*FOLDER, "data.val_fraction=0.01"],  # rounds to an empty val split
     "`data.val_fraction` = 0.01; allowed: a fraction ≥ 0.3333"),
    (_six_images, [*FOLDER, "data.val_fraction=0.5", "data.test_fraction=0.2"],  # 1 test image
     "`data.test_fraction` = 0.2; allowed: a fraction ≥ 0.3333"),
    (_six_images, [*FOLDER, "data.val_fraction=0.5", "data.test_fraction=0.5", "metrics=none"],
     "`data.val_fraction + data.test_fraction` = 1.0; allowed: a sum that leaves ≥ 1 of the 6"),
    (_mnist_one_test_image, ["data=mnist", "data.val_size=10"],
     "`data.data_dir` = "),
    (_mnist, ["data=mnist", "data.val_size=20", "metrics.n_reference=15"],  # 10 test images
     "`metrics.n_reference` = 15; allowed: an integer in [2, 10]"),
    (_mnist, ["data=mnist", "data.val_size=30", "metrics=none"],
     "`data.val_size` = 30; allowed: an integer in [1, 29]"),
]


def _assert_refused_cleanly(proc, needle: str, root: Path) -> None:
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert needle in proc.stderr and "allowed:" in proc.stderr, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 6, proc.stderr
    assert not list(root.rglob("*.ckpt")), "a checkpoint of a refused run"
    assert not [p for p in root.rglob("*") if ".tmp" in p.name], "a half-written file"
    cache = root / "cache"  # GENLAB_CACHE (tests/conftest.py)
    assert not list(cache.rglob("classifier.pt")) and not list(cache.rglob("*.npz"))


IDS = ["folder: 1 val image", "folder: no val image", "folder: 1 test image",
       "folder: no train image", "mnist: 1 test image", "mnist: n_reference above test",
       "mnist: val_size above train"]


def _run(overrides: list[str], cwd: Path):
    suite = [] if "metrics=none" in overrides else SUITE
    return run_cli(*SHORT, *suite, *overrides, cwd=cwd)


@pytest.mark.parametrize("write,overrides,needle", CASES, ids=IDS)
def test_a_value_the_data_refuses_is_one_paragraph(tmp_path: Path, write, overrides: list[str],
                                                   needle: str) -> None:
    write(tmp_path / "data")
    proc = _run(overrides, tmp_path)
    _assert_refused_cleanly(proc, needle, tmp_path)


@pytest.mark.skipif(not (SHARED / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file(),
                    reason=f"real MNIST digits not found in {SHARED} (../shared/data)")
@pytest.mark.parametrize("overrides,needle", [
    (["data.val_size=500", "metrics.n_reference=9000"],
     "`metrics.n_reference` = 9000; allowed: an integer in [2, 500]"),
    (["data.val_size=1500", "metrics.n_reference=1001"],  # the 1,000 test digits
     "`metrics.n_reference` = 1001; allowed: an integer in [2, 1000]"),
    (["data.val_size=4000", "metrics=none"], "`data.val_size` = 4000; allowed: an integer in "
                                             "[1, 3999]"),
])
def test_the_shared_mnist_subset_refuses_sizes_beyond_it(tmp_path: Path, overrides: list[str],
                                                         needle: str) -> None:
    """The real 4,000 + 1,000-digit subset (../shared/data), as its README tells users."""
    proc = _run(["data=mnist", f"paths.data_dir={SHARED}", *overrides], tmp_path)
    _assert_refused_cleanly(proc, needle, tmp_path)
