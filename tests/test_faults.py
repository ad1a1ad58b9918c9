"""Faults injected into real runs: each gives a clear message and loses nothing."""

import json
import os
from pathlib import Path

import pytest
import torch

from conftest import run_cli
from faults import Evil
from genlab.cli.train import run
from genlab.errors import CheckpointError, NonFiniteError

TINY_CLI = ["trainer.max_epochs=2", "logger=csv", "callbacks.progress_bar=null",
            "model.iwae_samples=4", "trainer.enable_progress_bar=false",
            "trainer.log_every_n_steps=10"]  # train rows and NaN checks within an epoch


def _finite(ckpt: Path) -> bool:
    state = torch.load(ckpt, weights_only=True, map_location="cpu")["state_dict"]
    return all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(compose_cfg,
                                                                   tmp_path: Path) -> None:
    cfg = compose_cfg("trainer.max_epochs=5", "callbacks.progress_bar=null",
                      "trainer.log_every_n_steps=10",
                      "+callbacks.poison={_target_:faults.PoisonWeights,at_step:30}")
    # checked at logging steps (every 10 here): caught within one interval of the poisoning
    # (at the default 50 the weight check at the end of epoch 1, step 40, catches it first)
    with pytest.raises(NonFiniteError, match=r"Non-finite train/loss at step (3\d|40)"):
        run(cfg)
    ckpts = sorted((tmp_path / "run" / "checkpoints").glob("*.ckpt"))
    assert ckpts, "the checkpoint of epoch 0 must survive"
    for ckpt in ckpts:
        assert _finite(ckpt), ckpt
        assert torch.load(ckpt, weights_only=True)["global_step"] == 20  # end of epoch 0


def test_nan_loss_from_the_command_line_is_one_paragraph(tmp_path: Path) -> None:
    proc = run_cli(*TINY_CLI, "+callbacks.poison={_target_:faults.PoisonWeights,at_step:5}",
                   cwd=tmp_path, env={"PYTHONPATH": str(Path(__file__).parent)})
    assert proc.returncode == 1
    assert "Non-finite" in proc.stderr and "Traceback" not in proc.stderr


def test_checkpoint_with_pickled_payload_is_refused_unexecuted(compose_cfg,
                                                               tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    torch.save({"state_dict": {}, "payload": Evil(str(marker))}, tmp_path / "evil.ckpt")
    assert not marker.exists()
    cfg = compose_cfg(f"ckpt_path={tmp_path / 'evil.ckpt'}", "callbacks=none")
    with pytest.raises(CheckpointError, match="refused unread"):
        run(cfg)
    assert not marker.exists()
    proc = run_cli(f"ckpt_path={tmp_path / 'evil.ckpt'}", *TINY_CLI, cwd=tmp_path,
                   env={"PYTHONPATH": str(Path(__file__).parent)})
    assert proc.returncode == 1 and "refused unread" in proc.stderr
    assert "Traceback" not in proc.stderr and not marker.exists()


def test_truncated_checkpoint_gives_a_clear_error(compose_cfg, tmp_path: Path) -> None:
    cfg = compose_cfg("trainer.max_epochs=1", "callbacks.progress_bar=null", "test=false")
    run(cfg)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    resumed = compose_cfg(f"ckpt_path={cut}", "callbacks=none",
                          output_dir=tmp_path / "run2")
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        run(resumed)


def test_unwritable_output_dir_fails_before_training(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    # root can write anywhere, so make the directory impossible rather than forbidden
    proc = run_cli(*TINY_CLI, f"paths.log_dir={blocker}/logs", cwd=tmp_path)
    assert proc.returncode == 1 and "is not writable" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_cli(*TINY_CLI, f"paths.cache_dir={blocker}/cache", cwd=tmp_path)
    assert proc.returncode == 1 and "paths.cache_dir" in proc.stderr
    assert not list(tmp_path.rglob("*.ckpt"))


def test_secrets_never_reach_run_outputs(tmp_path: Path) -> None:
    marker = "sk-genlab-secret-4f9d2c1b7a"
    # through the environment only: into a logger argument, and under a credential-like key
    proc = run_cli(*TINY_CLI, "logger=wandb", "+logger.wandb.notes=${oc.env:WANDB_API_KEY}",
                   "+project_token=${oc.env:HF_TOKEN}", cwd=tmp_path,
                   env={"WANDB_API_KEY": marker, "HF_TOKEN": marker + "-hf"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = [p for p in (tmp_path / "logs").rglob("*") if p.is_file()]
    assert any("offline-run" in str(p) for p in written)
    assert [str(p) for p in written if marker.encode() in p.read_bytes()] == []
    assert marker not in proc.stdout and marker not in proc.stderr


def test_read_only_use_of_the_data_directory(compose_cfg, tmp_path: Path) -> None:
    from fake_datasets import write_mnist

    write_mnist(tmp_path / "data", n_train=40, n_test=10)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "data").rglob("*")}
    os.chmod(tmp_path / "data" / "MNIST" / "raw", 0o555)
    cfg = compose_cfg("data=mnist", "data.val_size=8", "debug=fast", "model.iwae_samples=2")
    run(cfg)
    after = {p: p.stat().st_mtime_ns for p in (tmp_path / "data").rglob("*")}
    assert after == before  # nothing written, created or touched in the data directory


def test_same_config_and_seed_give_identical_metrics(tmp_path: Path) -> None:
    args = [*TINY_CLI, "trainer.deterministic=true", "model.iwae_samples=16", "seed=7"]
    for _ in range(2):
        proc = run_cli(*args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
    runs = sorted((tmp_path / "logs" / "train" / "runs").iterdir())
    a, b = (json.loads((r / "metrics.json").read_text())["metrics"] for r in runs)
    assert a == b and "test/nll_iwae" in a


def test_failing_tracker_never_kills_the_run_or_the_csv(compose_cfg, tmp_path: Path) -> None:
    cfg = compose_cfg("trainer.max_epochs=2", "callbacks=none", "model.iwae_samples=4",
                      "trainer.log_every_n_steps=10",  # train rows within each epoch
                      "+logger.broken={_target_:faults.FailingLogger,at_call:2}")
    with pytest.warns(UserWarning, match="switched off"):
        run(cfg)
    rows = (tmp_path / "run" / "csv" / "metrics.csv").read_text().splitlines()
    assert len(rows) > 5 and "val/elbo" in rows[0]
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_online_wandb_without_network_falls_back_to_offline(compose_cfg, tmp_path: Path,
                                                            monkeypatch) -> None:
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    cfg = compose_cfg("logger=wandb", "logger.wandb.offline=false", "debug=limit",
                      "callbacks=none", "model.iwae_samples=2")
    with pytest.warns(UserWarning, match="logging offline instead"):
        run(cfg)
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_wandb_disabled_mode_works(compose_cfg, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled")
    cfg = compose_cfg("logger=wandb", "debug=limit", "callbacks=none", "model.iwae_samples=2")
    run(cfg)
    assert not list((tmp_path / "run").glob("wandb/*-run-*"))
    assert "val/elbo" in (tmp_path / "run" / "csv" / "metrics.csv").read_text()
