"""The run directory: every file genlab and Lightning keep in it, and the one way genlab
writes a file (`atomic_write`). Torch-free and at the bottom of the import graph, so every
layer that touches a run directory or a cache (train, resume, eval, sample, sweeps,
compare, the image callbacks, the metric caches) names its files from here.

    <run>/config_resolved.yaml    the resolved, redacted config (train)
    <run>/metrics.json            final metrics, best checkpoint (train, when it completed)
    <run>/eval.json               metrics of genlab-eval (in an eval run's directory)
    <run>/failure.json            reason and traceback of a failed sweep trial
    <run>/wandb_run_id            the W&B run this directory logs to (resume continues it)
    <run>/checkpoints/*.ckpt      last.ckpt and best-*.ckpt (ModelCheckpoint)
    <run>/hpc_ckpt_N.ckpt         written by Lightning on SLURM preemption
    <run>/csv/metrics.csv         the CSV log, always written
    <run>/images/*.png            sample grids and plots of the callbacks
    <run>/samples.{png,npz}       genlab-sample's samples (interpolation.* likewise)
    <run>/.hydra/overrides.yaml   Hydra's record of the command line
    <run>/<task_name>.log         the job's log
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from genlab.errors import OutputNotWritableError

CONFIG = "config_resolved.yaml"
METRICS = "metrics.json"
EVAL = "eval.json"
FAILURE = "failure.json"
WANDB_ID = "wandb_run_id"
CHECKPOINTS = "checkpoints"
HPC_CHECKPOINTS = "hpc_ckpt_*.ckpt"  # Lightning's name for its preemption checkpoints
CSV_DIR = "csv"  # CSVLogger(save_dir=<run>, name=CSV_DIR, version="") → csv/metrics.csv
CSV_METRICS = f"{CSV_DIR}/metrics.csv"
IMAGES = "images"
SAMPLES = "samples"
INTERPOLATION = "interpolation"
HYDRA_DIR = ".hydra"
OVERRIDES = f"{HYDRA_DIR}/overrides.yaml"
HYDRA_CONFIG = f"{HYDRA_DIR}/config.yaml"


def log_file(run_dir: Path, task_name: str) -> Path:
    return run_dir / f"{task_name}.log"


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path` (same directory, so the rename stays on one
    file system); on success flush, fsync and rename it onto `path`. A reader sees the old
    file or the new one, never half of one; a failure (or a kill) leaves no partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a process-private name, created with the umask's permissions (mkstemp's are 0600)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(3)}")
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_text(path: str | Path, text: str) -> None:
    with atomic_write(path, "w") as f:
        f.write(text)


def write_json(path: str | Path, record: Any) -> None:
    write_text(path, json.dumps(record, indent=2))


def read_json(path: Path) -> Any:
    """The JSON at `path`, or None when there is no such file."""
    return json.loads(path.read_text()) if path.is_file() else None


def of_checkpoint(ckpt_path: str | Path) -> Path:
    """The run directory a checkpoint belongs to: <run>/checkpoints/X.ckpt or
    <run>/hpc_ckpt_N.ckpt → <run>."""
    path = Path(ckpt_path)
    return path.parent.parent if path.parent.name == CHECKPOINTS else path.parent


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of the run in `run_dir`, or None."""
    found = [*run_dir.glob(HPC_CHECKPOINTS), *run_dir.glob(f"{CHECKPOINTS}/*.ckpt")]
    return max(found, key=lambda p: p.stat().st_mtime_ns, default=None)


def ensure_writable(directory: str | Path, key: str) -> Path:
    """Create `directory` if needed and prove it takes a file; raise a clear error if not."""
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".genlab-write-test-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputNotWritableError(
            f"`{key}` = {path} is not writable ({err.strerror or err}). Point `{key}` at a "
            "directory you can write (or set it via the paths config / env variables) and "
            "run again; nothing was trained or written."
        ) from None
    return path
