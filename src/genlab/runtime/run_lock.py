"""One run directory, one writer: a run holds `<run>/.genlab.lock` for its life (a sweep
holds `<sweep dir>/.genlab.lock`), and a second process that would write there is refused
at once, naming the directory and the holder.

The lock is a file created with O_CREAT | O_EXCL (atomic on local file systems and on NFS
v3+), holding JSON: host, pid, the process's start time (its boot-relative start tick on
Linux, so a reused pid is not mistaken for the holder), when it started, and the SLURM job
it belongs to. Not `fcntl`/`flock` and not the `filelock` package (whose FileLock is an
fcntl lock): those locks die with the process, which is what we want on one host, but on
NFS they depend on the lock daemon (`nolock` mounts make them host-local) and they cannot
say *who* holds them; the message must name the holder. A lock whose holder is gone is
taken over with a warning, by these rules:

- same SLURM job (a requeue: `slurm-<job id>` names the same run directory): taken over;
  SLURM runs one instance of a job at a time;
- same host: the holder's pid is gone, or now belongs to another process: taken over;
- another host: the holder touches the file every `HEARTBEAT_S` seconds; a lock not
  touched for `STALE_AFTER_S` seconds (by the file server's clock, compared with a file
  touched just now in the same directory, so the hosts' clocks need not agree) is stale;
  the wait covers NFS attribute caching (`acregmax`, 60 s by default).

Under DDP or SLURM only rank 0 takes the lock (the other ranks write nothing there).
Reentrant within a process: `genlab-train` takes it before Hydra writes into the run
directory (a predictable directory: `run_id=`, SLURM, a continued run), and the run takes
it again for directories only known once Hydra has named them.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from genlab import run_dir
from genlab.config.naming import slurm_run_name
from genlab.errors import GenlabWarning, RunDirLockedError, WriteFailedError

HEARTBEAT_S = 30.0
STALE_AFTER_S = 300.0


class StaleLockWarning(GenlabWarning):
    """A lock left by a process that is gone was taken over."""


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    started: str  # ISO time, UTC
    proc_start: str | None  # /proc/<pid>/stat field 22 on Linux
    job: str | None  # slurm-<job>[_<task>] when started by SLURM

    def describe(self) -> str:
        job = f", SLURM job {self.job.removeprefix('slurm-')}" if self.job else ""
        return f"host {self.host}, pid {self.pid}, started {self.started}{job}"


def _proc_stat(pid: int) -> list[str]:
    """/proc/<pid>/stat's fields after the command name (which may hold spaces): [0] the
    state, [19] the start time; [] where there is no such process or no /proc."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _proc_start(pid: int) -> str | None:
    stat = _proc_stat(pid)
    return stat[19] if len(stat) > 19 else None


def _this_job() -> str | None:
    name = slurm_run_name()
    return name.split(".")[0] if name else None


def this_holder() -> Holder:
    return Holder(host=socket.gethostname(), pid=os.getpid(),
                  started=datetime.now(UTC).isoformat(timespec="seconds"),
                  proc_start=_proc_start(os.getpid()), job=_this_job())


def read_holder(path: Path) -> Holder | None:
    """The holder recorded in a lock file; None when it is empty or unreadable (being
    written, or left half-written by a process that died)."""
    try:
        return Holder(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return _proc_stat(pid)[:1] != ["Z"]  # killed, not yet reaped by its parent


def _fs_now(directory: Path) -> float:
    """The file server's time: the mtime of a file created just now in `directory`."""
    fd, probe = tempfile.mkstemp(prefix=".genlab-clock-", dir=directory)
    try:
        return os.fstat(fd).st_mtime
    finally:
        os.close(fd)
        os.unlink(probe)


def stale_reason(holder: Holder | None, path: Path) -> str | None:
    """Why the lock at `path` may be taken over, or None while its holder lives."""
    age = _fs_now(path.parent) - path.stat().st_mtime
    if holder is None:
        return (f"its lock file is unreadable and {age:.0f} s old"
                if age > STALE_AFTER_S else None)
    if holder.job and holder.job == _this_job():
        return f"it is this SLURM job's previous run ({holder.describe()}), requeued"
    if holder.host == socket.gethostname():
        if not _pid_alive(holder.pid):
            return f"its process is gone ({holder.describe()})"
        if holder.proc_start is not None and _proc_start(holder.pid) != holder.proc_start:
            return f"its pid now belongs to another process ({holder.describe()})"
        if holder.pid == os.getpid():
            return f"it was left by this process ({holder.describe()})"
        return None
    if age > STALE_AFTER_S:
        return (f"its holder on another host has not touched it for {age:.0f} s "
                f"({holder.describe()})")
    return None


class DirLock:
    """The lock on one run or sweep directory (see the module docstring)."""

    def __init__(self, directory: str | Path, what: str = "run") -> None:
        self.directory, self.what = Path(directory), what
        self.path = self.directory / run_dir.LOCK
        self.holder: Holder | None = None
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def acquire(self) -> None:
        """Take the lock, or raise RunDirLockedError naming the holder."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # a takeover can race with another process's
            if self._create():
                return
            holder = read_holder(self.path)
            try:
                reason = stale_reason(holder, self.path)
            except FileNotFoundError:  # released meanwhile
                continue
            if reason is None:
                raise self._refused(holder)
            aside = self.path.with_name(f"{run_dir.LOCK}.stale-{os.getpid()}-"
                                        f"{secrets.token_hex(3)}")
            try:
                os.rename(self.path, aside)
            except FileNotFoundError:
                continue
            aside.unlink(missing_ok=True)
            warnings.warn(f"{self.what.capitalize()} directory {self.directory} was locked, "
                          f"but {reason}: lock taken over.", StaleLockWarning, stacklevel=2)
        raise self._refused(read_holder(self.path))

    def _create(self) -> bool:
        holder = this_holder()
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        except OSError as err:
            raise WriteFailedError(run_dir.why_write_failed(self.path, err)) from err
        try:
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(asdict(holder)))
                f.flush()
                os.fsync(f.fileno())
        except OSError as err:  # a full disk: no empty lock file left to block the next run
            self.path.unlink(missing_ok=True)
            raise WriteFailedError(run_dir.why_write_failed(self.path, err)) from err
        self.holder = holder
        self._stop.clear()
        self._beat = threading.Thread(target=self._heartbeat, daemon=True,
                                      name=f"genlab-lock-{self.what}")
        self._beat.start()
        return True

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def _refused(self, holder: Holder | None) -> RunDirLockedError:
        who = holder.describe() if holder else "a process whose lock file is being written"
        other = "run_id" if self.what == "run" else "sweep.name"
        return RunDirLockedError(
            f"{self.what.capitalize()} directory {self.directory} is in use by another "
            f"genlab process ({who}). Two writers would mix their checkpoints and logs, so "
            f"this one stopped before writing anything there. Wait for that one to end or "
            f"stop it, or choose another `{other}`. A lock whose holder is gone is taken "
            f"over by itself: at once on the same host, after {STALE_AFTER_S / 60:.0f} "
            f"minutes without a heartbeat from another host (the lock file is {self.path}).")

    def release(self) -> None:
        """Stop the heartbeat and remove the lock file if it is still this process's."""
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
            self._beat = None
        if self.holder is not None and read_holder(self.path) == self.holder:
            self.path.unlink(missing_ok=True)
        self.holder = None


_HELD: dict[tuple[int, str], DirLock] = {}


@contextlib.contextmanager
def holding(directory: str | Path, what: str = "run") -> Iterator[None]:
    """Hold the lock on `directory` for the block (a no-op when this process holds it)."""
    key = (os.getpid(), str(Path(directory).resolve()))
    if key in _HELD:
        yield
        return
    lock = DirLock(directory, what)
    lock.acquire()
    _HELD[key] = lock
    try:
        yield
    finally:
        _HELD.pop(key, None)
        lock.release()


def predictable_run_dir(args: Sequence[str]) -> Path | None:
    """The run directory `genlab-train args` will write to, when it is known before Hydra
    makes it (`run_id=`, `hydra.run.dir=`, a SLURM job); None otherwise (a fresh timestamped
    directory nobody else can name, a multirun, Hydra's flags)."""
    if any(a.startswith("-") for a in args):
        return None
    keys = {a.split("=", 1)[0].lstrip("+~") for a in args if "=" in a}
    if not ({"run_id", "hydra.run.dir"} & keys or slurm_run_name()):
        return None
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from genlab.config import config_dir

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
            cfg = compose("train", overrides=list(args), return_hydra_config=True)
            return Path(str(cfg.hydra.run.dir)).absolute()
    except Exception:  # noqa: BLE001 — Hydra reports a command it refuses itself
        return None
    finally:
        GlobalHydra.instance().clear()
