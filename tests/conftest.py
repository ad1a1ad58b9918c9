"""Shared fixtures: compose real configs with Hydra's compose API, shrink them, run them."""

from __future__ import annotations

import os

# Tiny nets run fastest single-threaded, and test runs share the cores with their own
# subprocesses (CLI tests, DDP ranks): one thread each avoids oversubscription.
os.environ.setdefault("OMP_NUM_THREADS", "1")
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from genlab.config import config_dir

# Tiny, fast settings every composed test config starts from (overridable per test).
TINY = [
    "trainer.accelerator=cpu",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "logger=csv",
    "metrics=none",  # the sample-quality suite trains a classifier; its tests opt in
]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reaches the network; W&B writes offline runs only."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def compose_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """compose_cfg("model=conv_vae", ...) → the composed train config with its output dir
    set to tmp_path/run (or output_dir), as `genlab-train` would see it."""

    def _compose(*overrides: str, tiny: bool = True, output_dir: Path | None = None) -> DictConfig:
        out = str(output_dir or tmp_path / "run")
        GlobalHydra.instance().clear()
        with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
            cfg = compose(
                "train",
                overrides=[*(TINY if tiny else []), f"paths.root_dir={tmp_path}", *overrides],
                return_hydra_config=True,
            )
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = out
            cfg.hydra.job.num = 0
        HydraConfig.instance().set_config(cfg)
        with open_dict(cfg):
            cfg.paths.output_dir = out
            del cfg["hydra"]
        return cfg

    yield _compose
    GlobalHydra.instance().clear()


def run_cli(*args: str, cwd: Path, module: str = "genlab.train", timeout: float = 600,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a genlab entry point in a fresh interpreter, as a user would."""
    full_env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true",
                "GENLAB_ROOT": str(cwd), **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, env=full_env, capture_output=True,
        text=True, timeout=timeout,
    )


def run_dirs(root: Path, task: str = "train") -> list[Path]:
    return sorted((root / "logs" / task / "runs").iterdir())


@pytest.fixture
def one_thread():
    """Tiny MLPs run fastest on one thread (two threads on a busy 2-core box crawl)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
