from pathlib import Path

import numpy as np
import pytest
import torch

from fake_datasets import write_cifar10, write_mnist, write_png_folder
from genlab.data.digits import DigitsDataModule
from genlab.data.image_folder import ImageFolderDataModule
from genlab.data.torchvision_sets import TorchvisionDataModule
from genlab.errors import DataFormatError, DataNotFoundError


def _all(loader) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*loader, strict=True)
    return torch.cat(xs), torch.cat([torch.as_tensor(y) for y in ys])


def test_digits_split_is_fixed_and_in_range() -> None:
    dm = DigitsDataModule(name="digits", batch_size=100, split_seed=0)
    dm.setup()
    sizes = {k: len(v) for k, v in dm.splits.items()}
    assert sizes == {"train": 1257, "val": 180, "test": 360}
    x, y = _all(dm.test_dataloader())
    assert x.shape == (360, 1, 8, 8) and dm.shape == (1, 8, 8) and dm.num_classes == 10
    assert x.min() == 0 and x.max() == 1
    assert len(torch.unique(x)) == 17  # 17 grey levels / 16
    assert set(y.tolist()) == set(range(10))
    again = DigitsDataModule(name="digits", batch_size=100, split_seed=0)
    again.setup()
    assert torch.equal(again.splits["test"].tensors[0], dm.splits["test"].tensors[0])
    other = DigitsDataModule(name="digits", batch_size=100, split_seed=1)
    other.setup()
    assert not torch.equal(other.splits["test"].tensors[0], dm.splits["test"].tensors[0])


@pytest.mark.parametrize("dataset,folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_like_from_idx_files(tmp_path: Path, dataset: str, folder: str) -> None:
    write_mnist(tmp_path, folder, n_train=50, n_test=20)
    dm = TorchvisionDataModule(dataset=dataset, data_dir=str(tmp_path), name=dataset,
                               val_size=10, batch_size=16)
    dm.setup()
    assert [len(dm.splits[s]) for s in ("train", "val", "test")] == [40, 10, 20]
    x, y = _all(dm.test_dataloader())
    assert x.shape == (20, 1, 28, 28) and x.dtype == torch.float32
    raw = (tmp_path / folder / "raw" / "t10k-images-idx3-ubyte").read_bytes()[16:]
    expected = torch.from_numpy(np.frombuffer(raw, np.uint8).reshape(20, 1, 28, 28).copy())
    assert torch.allclose(x, expected.float() / 255)
    labels = np.frombuffer((tmp_path / folder / "raw" / "t10k-labels-idx1-ubyte").read_bytes()[8:],
                           np.uint8)
    assert y.tolist() == labels.tolist()


def test_mnist_padded_to_32(tmp_path: Path) -> None:
    write_mnist(tmp_path, n_train=20, n_test=8)
    dm = TorchvisionDataModule(dataset="mnist", data_dir=str(tmp_path), name="mnist",
                               val_size=4, image_size=32, resize="pad", batch_size=8)
    dm.setup()
    x, _ = _all(dm.test_dataloader())
    assert dm.shape == (1, 32, 32) and x.shape == (8, 1, 32, 32)
    assert x[:, :, :2].abs().sum() == 0 and x[:, :, :, -2:].abs().sum() == 0


def test_cifar10_from_python_batches(tmp_path: Path) -> None:
    write_cifar10(tmp_path, n_per_batch=6)
    dm = TorchvisionDataModule(dataset="cifar10", data_dir=str(tmp_path), name="cifar10",
                               val_size=5, verify_md5=False, batch_size=8)
    dm.setup()
    assert [len(dm.splits[s]) for s in ("train", "val", "test")] == [25, 5, 6]
    x, _ = _all(dm.test_dataloader())
    assert x.shape == (6, 3, 32, 32)
    import pickle

    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "rb") as f:
        raw = pickle.load(f)["data"].reshape(6, 3, 32, 32)
    assert torch.allclose(x, torch.from_numpy(raw).float() / 255)
    # the official md5 check rejects re-packed files, and says how to skip it
    strict = TorchvisionDataModule(dataset="cifar10", data_dir=str(tmp_path), name="cifar10",
                                   val_size=5, batch_size=8)
    with pytest.raises(DataFormatError, match="verify_md5"):
        strict.setup()


def test_missing_dataset_names_directory_and_fix(tmp_path: Path) -> None:
    dm = TorchvisionDataModule(dataset="mnist", data_dir=str(tmp_path / "nothing"), name="mnist")
    with pytest.raises(DataNotFoundError) as err:
        dm.setup()
    message = str(err.value)
    assert str((tmp_path / "nothing" / "MNIST").resolve()) in message
    assert "data.download=true" in message and "train-images-idx3-ubyte" in message


def test_truncated_idx_file_is_named(tmp_path: Path) -> None:
    write_mnist(tmp_path, n_train=30, n_test=10)
    victim = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    victim.write_bytes(victim.read_bytes()[:-100])
    dm = TorchvisionDataModule(dataset="mnist", data_dir=str(tmp_path), name="mnist", val_size=5)
    with pytest.raises(DataFormatError, match="train-images-idx3-ubyte.*truncated"):
        dm.setup()


def test_wrong_image_size_is_refused(tmp_path: Path) -> None:
    from fake_datasets import MNIST_FILES, write_idx

    write_mnist(tmp_path, n_train=30, n_test=10)
    for train, n in ((True, 30), (False, 10)):
        write_idx(tmp_path / "MNIST" / "raw" / MNIST_FILES[train][0], np.zeros((n, 20, 20)))
    dm = TorchvisionDataModule(dataset="mnist", data_dir=str(tmp_path), name="mnist", val_size=5)
    with pytest.raises(DataFormatError, match=r"\(1, 20, 20\)"):
        dm.setup()


def test_truncated_cifar_batch_is_refused(tmp_path: Path) -> None:
    write_cifar10(tmp_path, n_per_batch=6)
    victim = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    victim.write_bytes(victim.read_bytes()[:500])
    dm = TorchvisionDataModule(dataset="cifar10", data_dir=str(tmp_path), name="cifar10",
                               val_size=5, verify_md5=False)
    with pytest.raises(DataFormatError, match="corrupt"):
        dm.setup()


def test_image_folder_with_classes(tmp_path: Path) -> None:
    write_png_folder(tmp_path / "imgs", ["cats", "dogs", "owls"], n_per_class=10, size=(40, 30))
    dm = ImageFolderDataModule(root=str(tmp_path / "imgs"), image_size=16, channels=3,
                               name="image_folder", batch_size=8)
    dm.setup()
    assert dm.num_classes == 3 and dm.shape == (3, 16, 16)
    assert sum(len(s) for s in dm.splits.values()) == 30
    x, y = _all(dm.train_dataloader())
    assert x.shape[1:] == (3, 16, 16) and x.min() >= 0 and x.max() <= 1
    assert set(y.tolist()) <= {0, 1, 2}


def test_image_folder_flat_grey(tmp_path: Path) -> None:
    write_png_folder(tmp_path / "flat", None, n_per_class=10, size=(20, 20), mode="RGB")
    dm = ImageFolderDataModule(root=str(tmp_path / "flat"), image_size=8, channels=1,
                               name="image_folder", batch_size=4)
    dm.setup()
    x, y = _all(dm.test_dataloader())
    assert dm.num_classes == 0 and x.shape[1:] == (1, 8, 8) and (y == -1).all()


def test_image_folder_faults(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="does not exist"):
        ImageFolderDataModule(root=str(tmp_path / "none"), name="f").setup()
    write_png_folder(tmp_path / "imgs", ["a"], n_per_class=3)
    (tmp_path / "imgs" / "empty_class").mkdir()
    with pytest.raises(DataFormatError, match="empty_class"):
        ImageFolderDataModule(root=str(tmp_path / "imgs"), name="f").setup()
    (tmp_path / "imgs" / "empty_class").rmdir()
    (tmp_path / "imgs" / "a" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DataFormatError, match="broken.png"):
        ImageFolderDataModule(root=str(tmp_path / "imgs"), name="f").setup()
