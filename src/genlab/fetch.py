"""genlab-fetch: download the configured datasets and the Inception weights, verify their
checksums and list what is present. Exit code 0 when everything asked for is present
afterwards, 1 (with the list of what is missing) otherwise."""

from __future__ import annotations

import os
import socket
import urllib.request
from pathlib import Path

import hydra
from omegaconf import DictConfig

from genlab.config import config_dir
from genlab.entry import command_main, run_reporting_errors
from genlab.errors import ConfigError, DataNotFoundError
from genlab.metrics.inception import WEIGHTS_SHA256, WEIGHTS_URL, file_sha256, weights_path

TORCHVISION_SETS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10"}


def dataset_present(name: str, data_dir: Path, download: bool = False) -> bool:
    """Whether torchvision finds (and, with download=True, fetches and MD5-checks) the set."""
    import torchvision.datasets as tvd

    try:
        for train in (True, False):
            getattr(tvd, TORCHVISION_SETS[name])(str(data_dir), train=train, download=download)
    except Exception:  # RuntimeError "not found", URLError, checksum mismatch, ...
        return False
    return True


def inception_present(cache_dir: Path) -> bool:
    path = weights_path(cache_dir)
    return path.is_file() and file_sha256(path) == WEIGHTS_SHA256


def download_inception(cache_dir: Path) -> None:
    """Download to a private temporary file, check the SHA-256, then move into place."""
    path = weights_path(cache_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}")
    try:
        urllib.request.urlretrieve(WEIGHTS_URL, tmp)
        digest = file_sha256(tmp)
        if digest != WEIGHTS_SHA256:
            raise OSError(f"SHA-256 {digest} does not match {WEIGHTS_SHA256}")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def run(cfg: DictConfig) -> dict[str, bool]:
    data_dir, cache_dir = Path(cfg.paths.data_dir), Path(cfg.paths.cache_dir)
    unknown = [d for d in cfg.datasets if d not in TORCHVISION_SETS]
    if unknown:
        raise ConfigError("datasets", list(cfg.datasets), ", ".join(TORCHVISION_SETS))
    socket.setdefaulttimeout(cfg.timeout)  # fail fast where there is no network
    status: dict[str, bool] = {}
    errors: dict[str, str] = {}
    for name in cfg.datasets:
        status[f"{name} ({data_dir})"] = (dataset_present(name, data_dir)
                                          or dataset_present(name, data_dir, download=True))
    if cfg.inception:
        key = f"inception weights ({weights_path(cache_dir)})"
        if not inception_present(cache_dir):
            try:
                download_inception(cache_dir)
            except OSError as err:  # URLError, timeouts and checksum mismatches are OSErrors
                errors[key] = str(err)
        status[key] = inception_present(cache_dir)
    for item, present in status.items():
        print(f"{'present' if present else 'MISSING'}  {item}"
              + (f"  [{errors[item]}]" if item in errors else ""))
    missing = [item for item, present in status.items() if not present]
    if missing:
        raise DataNotFoundError(
            f"Could not fetch: {'; '.join(missing)}. Is there a network here? Run "
            "`genlab-fetch` on a machine with internet (e.g. a cluster login node) that "
            "shares paths.data_dir and paths.cache_dir, or copy the files there.")
    return status


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="fetch")
def _hydra_main(cfg: DictConfig) -> None:
    run_reporting_errors(run, cfg)


def main() -> None:
    """Console-script entry point (`genlab-fetch`)."""
    command_main(_hydra_main, "fetch")


if __name__ == "__main__":
    main()
