"""genlab-fetch: download the configured datasets and the Inception weights, verify their
checksums and list what is present. Exit code 0 when everything asked for is present
afterwards, 1 (with the list of what is missing) otherwise."""

from __future__ import annotations

import hashlib
import socket
import urllib.request
from pathlib import Path

import hydra
from omegaconf import DictConfig

from genlab import run_dir
from genlab.cli.reporting import command_main, run_reporting_errors
from genlab.config import config_dir
from genlab.config.choices import TORCHVISION_DATASETS
from genlab.config.schema import as_list
from genlab.errors import ConfigError, DataNotFoundError

TORCHVISION_SETS = {name: spec[0] for name, spec in TORCHVISION_DATASETS.items()}


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
    from genlab.metrics.inception import WEIGHTS_SHA256, file_sha256, weights_path

    path = weights_path(cache_dir)
    return path.is_file() and file_sha256(path) == WEIGHTS_SHA256


def download_inception(cache_dir: Path) -> None:
    """Download to a private temporary file, check the SHA-256, then move into place."""
    from genlab.metrics.inception import WEIGHTS_SHA256, WEIGHTS_URL, weights_path

    with run_dir.atomic_write(weights_path(cache_dir)) as f, \
            urllib.request.urlopen(WEIGHTS_URL) as response:
        sha256 = hashlib.sha256()
        for block in iter(lambda: response.read(1 << 20), b""):
            sha256.update(block)
            f.write(block)
        digest = sha256.hexdigest()
        if digest != WEIGHTS_SHA256:  # raised inside: the file is not moved into place
            raise OSError(f"SHA-256 {digest} does not match {WEIGHTS_SHA256}")


def run(cfg: DictConfig) -> dict[str, bool]:
    # imported here, not above: the command's pre-flight runs before torch is imported
    from genlab.metrics.inception import weights_path

    data_dir, cache_dir = Path(cfg.paths.data_dir), Path(cfg.paths.cache_dir)
    datasets = as_list(cfg.datasets)  # `datasets=mnist` is [mnist], not its letters
    unknown = [d for d in datasets if d not in TORCHVISION_SETS]
    if unknown:
        raise ConfigError("datasets", datasets, ", ".join(TORCHVISION_SETS))
    socket.setdefaulttimeout(cfg.timeout)  # fail fast where there is no network
    status: dict[str, bool] = {}
    errors: dict[str, str] = {}
    for name in datasets:
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
