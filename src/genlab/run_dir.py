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
    <run>/.genlab.lock            who writes to the run now (runtime/run_lock.py)

A write that fails for want of space or rights (ENOSPC, EDQUOT, EROFS, EACCES, ...) is a
`WriteFailedError`: one paragraph naming the file, the cause and what to free or change.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from genlab.errors import OutputNotWritableError, WriteFailedError

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
LOCK = ".genlab.lock"


def log_file(run_dir: Path, task_name: str) -> Path:
    return run_dir / f"{task_name}.log"


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path` (same directory, so the rename stays on one
    file system); on success flush, fsync and rename it onto `path`. A reader sees the old
    file or the new one, never half of one; a failure (or a kill) leaves no partial file,
    and a failure for want of space or rights is a WriteFailedError naming `path`."""
    path = Path(path)
    # a process-private name, created with the umask's permissions (mkstemp's are 0600)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(3)}")
    kept = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, mode) as f:
            kept = _WriteErrorKept(f)
            yield kept  # type: ignore[misc]
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except Exception as err:
        # torch.save and np.savez turn a failed write into their own errors ("unexpected
        # pos"): report the write error underneath
        cause = kept.error if kept is not None and kept.error is not None else err
        if not isinstance(cause, OSError) or isinstance(cause, WriteFailedError) or \
                cause.errno not in WRITE_ERRNOS:
            raise
        raise WriteFailedError(f"{why_write_failed(path, cause)} Nothing was left "
                               "half-written: the file keeps its previous version, if it "
                               "had one.") from err
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


class _WriteErrorKept:
    """The open file, keeping the OSError of a failed write (libraries that write through
    it may replace that error with one of their own)."""

    def __init__(self, f: IO[Any]) -> None:
        self.f, self.error = f, None

    def write(self, data: Any) -> int:
        try:
            return self.f.write(data)
        except OSError as err:
            self.error = err
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.f, name)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.f)


# what a write fails with for want of space or rights (EIO: a lost NFS server, a dying disk)
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                errno.EFBIG, errno.EIO}


def why_write_failed(path: str | Path, err: OSError, needed: int | None = None) -> str:
    """The paragraph for a failed write of `path`: the cause and what to free or change.
    `needed`: bytes the write needs (a check before the write)."""
    path = Path(path)
    where = _existing_parent(path)
    free = shutil.disk_usage(where).free if where else None
    cause = err.strerror or str(err)
    change = ("or point `paths.log_dir` (run outputs) or `paths.cache_dir` (caches) at "
              "another disk")
    code = errno.ENOSPC if needed is not None else err.errno
    code = errno.EACCES if code == errno.EPERM else code
    advice = {
        errno.ENOSPC: f"The file system holding {where} has {_size(free)} free"
                      + (f" and the write needs about {_size(needed)}" if needed else "")
                      + f": free space there (old runs, checkpoints, caches) {change}.",
        errno.EDQUOT: f"Your disk quota there is used up: delete files you own under it "
                      f"(`quota -s` shows the limit) {change}.",
        errno.EROFS: f"That file system is mounted read-only: {change.removeprefix('or ')}.",
        errno.EACCES: f"You may not write in {where}: change its permissions "
                      f"(`ls -ld {where}`) {change}.",
        errno.EFBIG: "The file is larger than that file system allows: "
                     f"{change.removeprefix('or ')}.",
    }.get(code, f"Check the file system holding {where} (`df -h {where}`, its mount) "
                f"{change}.")
    return f"Could not write {path}: {cause}. {advice}"


def _existing_parent(path: Path) -> Path | None:
    for parent in path.parents:
        if parent.is_dir():
            return parent
    return None


def _size(n: float | None) -> str:
    if n is None:
        return "an unknown amount"
    if n < 1024:
        return f"{n:.0f} bytes"
    for unit in ("KiB", "MiB", "GiB"):
        n /= 1024
        if n < 1024 or unit == "GiB":
            break
    return f"{n:.1f} {unit}"


def check_free_space(path: str | Path, needed: int) -> None:
    """Raise WriteFailedError *before* writing `needed` bytes beside `path` when its file
    system has less free than that."""
    where = _existing_parent(Path(path))
    if where is not None and shutil.disk_usage(where).free < needed:
        full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        raise WriteFailedError(f"{why_write_failed(path, full, needed)} Nothing was written "
                               "(checked before the write).")


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
