"""Writes that fail (issue 24 item 1): a full disk, a read-only file system. Each ends in one
paragraph naming the file, the cause and what to free or change, exit 1; the newest
complete checkpoint stays the newest; no partial file under a real name, no temp file.

The full disk is a small tmpfs, which only root can mount: elsewhere these tests skip,
saying so.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from conftest import run_cli
from genlab import run_dir
from genlab.cli.train import run
from genlab.errors import WriteFailedError

TINY = ["logger=csv", "metrics=none", "trainer.enable_progress_bar=false",
        "model.iwae_samples=2"]


@contextlib.contextmanager
def tmpfs(size: str) -> Iterator[Path]:
    """A fresh tmpfs of `size` (`1200k`), unmounted (always) on exit."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs (a disk that fills up) needs root")
    where = Path(f"/tmp/genlab-full-{uuid.uuid4().hex[:8]}")
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        where.rmdir()
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)
        with contextlib.suppress(OSError):
            where.rmdir()


def _leftovers(root: Path) -> list[Path]:
    """Temporary files of atomic_write and empty files under real names (the job's log
    may be empty: nothing logged to it)."""
    return [p for p in root.rglob("*") if p.is_file() and
            (".tmp-" in p.name or (p.stat().st_size == 0 and p.suffix != ".log"))]


def _epoch(ckpt: Path) -> int:
    return int(torch.load(ckpt, weights_only=True, map_location="cpu")["epoch"])


def test_a_disk_too_small_for_the_first_checkpoint_fails_before_writing_it(
        tmp_path: Path) -> None:
    """The issue's reproduction (1.2 MB disk, 20 epochs). Rules out: reporting torch's
    "enforce fail ... unexpected pos" (or any traceback); checking free space only after
    the write (a partial checkpoint under its name or a temp file would remain)."""
    with tmpfs("1200k") as full:
        proc = run_cli(f"paths.log_dir={full}/logs", "trainer.max_epochs=20", *TINY,
                       cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr[-2000:]
        err = proc.stderr
        assert "Traceback" not in err and "inline_container" not in err
        assert "Could not write" in err and ".ckpt: No space left on device" in err
        assert "free space there" in err and "paths.log_dir" in err
        assert "checked before the write" in err
        assert not list(full.rglob("*.ckpt")) and _leftovers(full) == []


def test_a_disk_that_fills_up_keeps_the_newest_checkpoint_and_says_how_to_continue(
        tmp_path: Path) -> None:
    """Room for two checkpoints, not three. Rules out: writing checkpoints in place (the
    old last.ckpt would be cut short), a message without the way to continue, a run that
    goes on without its checkpoints."""
    with tmpfs("3600k") as full:
        proc = run_cli(f"paths.log_dir={full}/logs", "trainer.max_epochs=20", "run_id=fills",
                       *TINY, cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr[-2000:]
        last = full / "logs" / "train" / "runs" / "fills" / "checkpoints" / "last.ckpt"
        assert "Traceback" not in proc.stderr and "No space left on device" in proc.stderr
        assert f"The newest complete checkpoint is {last}" in proc.stderr
        assert f"`genlab-train ckpt_path={last}`" in proc.stderr
        assert "run_id=fills resume=auto" in proc.stderr
        assert _epoch(last) == 0  # whole, loadable, the state it was
        assert _leftovers(full) == []
        assert not (last.parent.parent / "metrics.json").exists()


def test_a_write_that_fails_inside_torch_save_names_the_cause(compose_cfg, tmp_path: Path,
                                                              monkeypatch) -> None:
    """The free-space check fooled (it estimates 0 bytes): the write itself fails. Rules
    out: trusting the pre-check alone; passing on torch's RuntimeError, which hides the
    ENOSPC underneath; leaving the temp file of the failed write."""
    import genlab.runtime.checkpoint_io as checkpoints

    with tmpfs("3600k") as full:
        monkeypatch.setattr(checkpoints, "expected_size", lambda *_: 0)
        cfg = compose_cfg("trainer.max_epochs=20", "callbacks=checkpoint",
                          output_dir=full / "run")
        with pytest.raises(WriteFailedError, match="No space left on device") as err:
            run(cfg)
        assert "unexpected pos" not in str(err.value)
        last = full / "run" / "checkpoints" / "last.ckpt"
        assert _epoch(last) >= 0 and _leftovers(full) == []


def test_a_read_only_file_system_keeps_the_old_file(tmp_path: Path) -> None:
    """Rules out: a message that names no file or says "no space" for a read-only mount;
    removing or truncating the file before the new one is whole."""
    with tmpfs("200k") as fs:
        target = fs / "metrics.json"
        run_dir.write_json(target, {"old": 1})
        subprocess.run(["mount", "-o", "remount,ro", str(fs)], check=True)
        with pytest.raises(WriteFailedError) as err:
            run_dir.write_json(target, {"new": 2})
        assert isinstance(err.value, OSError)
        message = str(err.value)
        assert message.startswith(f"Could not write {target}: Read-only file system.")
        assert "mounted read-only" in message and "paths.log_dir" in message
        assert run_dir.read_json(target) == {"old": 1}


def test_every_failed_write_cause_says_what_to_do() -> None:
    """Rules out: one generic text for every errno (a quota is not a full disk)."""
    path = Path("/tmp/some/run/last.ckpt")
    texts = {code: run_dir.why_write_failed(path, OSError(code, os.strerror(code)))
             for code in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EIO)}
    assert "free space there" in texts[errno.ENOSPC]
    assert "quota" in texts[errno.EDQUOT]
    assert "read-only" in texts[errno.EROFS]
    assert "permissions" in texts[errno.EACCES]
    assert "df -h" in texts[errno.EIO]
    assert all(t.startswith(f"Could not write {path}: ") for t in texts.values())


def test_a_csv_log_that_cannot_grow_names_its_file(tmp_path: Path) -> None:
    """Rules out: an append's OSError passed on without a file name (Lightning's CSV
    writer), so the paragraph could not say which file."""
    from genlab.runtime.history import RunCSVLogger

    with tmpfs("100k") as fs:
        logger = RunCSVLogger(save_dir=str(fs), name=run_dir.CSV_DIR, version="")
        logger.log_metrics({"train/loss": 1.0}, step=0)
        logger.save()
        with contextlib.suppress(OSError), open(fs / "filler", "wb", buffering=0) as f:
            while True:
                f.write(b"x" * 4096)
        logger.log_metrics({"train/loss": 0.5, "val/elbo": -3.0}, step=1)
        with pytest.raises(WriteFailedError) as err:
            logger.save()
        assert str(err.value).startswith(
            f"Could not write {fs / run_dir.CSV_METRICS}: No space left on device.")
        assert "train/loss" in (fs / run_dir.CSV_METRICS).read_text()  # not cut short


def test_a_full_disk_leaves_no_empty_lock_file(tmp_path: Path) -> None:
    """Rules out: an empty `.genlab.lock` left by a lock that could not be written, which
    the next run would read as held (unreadable and young) and be refused by."""
    from genlab.runtime.run_lock import DirLock

    with tmpfs("64k") as fs:
        (fs / "run").mkdir()
        with contextlib.suppress(OSError), open(fs / "filler", "wb", buffering=0) as f:
            while True:
                f.write(b"x" * 4096)
        with pytest.raises(WriteFailedError, match="No space left on device"):
            DirLock(fs / "run").acquire()
        assert not (fs / "run" / run_dir.LOCK).exists()
