"""A run directory written before genlab's layers became packages (tests/fixtures/
run_before_layers, made by commit 48755ac) still evaluates, samples and summarises: the
`_target_` paths its config names (genlab.models.*, genlab.nets.*, genlab.data.*) still load,
and the one that moved (genlab.checkpointing.AtomicCheckpointIO) is rewritten when the
config is read (genlab/config/moved.py), with no module left at the old path."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from conftest import run_cli, run_dirs

OLD_RUN = Path(__file__).parent / "fixtures" / "run_before_layers"


@pytest.fixture
def old_run(tmp_path: Path) -> Path:
    return Path(shutil.copytree(OLD_RUN, tmp_path / "old_vae"))


def test_old_run_dir_evaluates_with_genlab_eval(old_run: Path, tmp_path: Path) -> None:
    proc = run_cli(f"ckpt_path={old_run / 'checkpoints' / 'last.ckpt'}", "metrics=none",
                   cwd=tmp_path, module="genlab.cli.eval", env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads((run_dirs(tmp_path, "eval")[0] / "eval.json").read_text())
    assert {"test/elbo", "test/nll_iwae"} <= set(record["metrics"])


def test_old_config_targets_and_values_still_load(old_run: Path) -> None:
    """Rules out a reader that leaves the moved target as it is (the old module is gone:
    instantiating it fails) and a rewrite that drops the node's other keys."""
    from genlab.config.instantiate import instantiate
    from genlab.config.moved import read_run_config
    from genlab.config.schema import validate
    from genlab.runtime.checkpoint_io import AtomicCheckpointIO

    raw = OmegaConf.load(old_run / "config_resolved.yaml")
    assert raw.trainer.plugins[0]._target_ == "genlab.checkpointing.AtomicCheckpointIO"
    assert importlib.util.find_spec("genlab.checkpointing") is None  # no shim module
    cfg = read_run_config(old_run / "config_resolved.yaml")
    validate(OmegaConf.to_container(cfg))
    [plugin] = [instantiate(p) for p in cfg.trainer.plugins]
    assert isinstance(plugin, AtomicCheckpointIO)
    # everything else as saved
    assert OmegaConf.to_container(cfg.model) == OmegaConf.to_container(raw.model)


def test_old_run_dir_is_read_by_the_sweep_summary(old_run: Path) -> None:
    from genlab.sweeps.records import read_run

    record = read_run(old_run)
    assert record.status == "completed" and "val/elbo" in record.metrics


def test_every_moved_target_leads_to_a_class_that_exists() -> None:
    """Rules out a rewrite table whose new path is itself stale (a later move not
    followed) and an old path that still imports (then the rewrite would hide a shim)."""
    from hydra.utils import get_class

    from genlab.config.moved import MOVED_TARGETS, current_targets

    for old, new in MOVED_TARGETS.items():
        get_class(new)
        assert importlib.util.find_spec(old.rsplit(".", 1)[0]) is None, old
        assert current_targets({"plugins": [{"_target_": old, "x": 1}]}) == {
            "plugins": [{"_target_": new, "x": 1}]}


def test_a_run_naming_a_removed_class_is_refused_in_one_paragraph(old_run: Path,
                                                                   tmp_path: Path) -> None:
    """A run whose config names the removed ConvClassifier: genlab-eval says what it was and
    what to do, exit ≠ 0, no traceback, nothing written. Rules out the ImportError wall a
    plain `_target_` lookup gives, and a rewrite to VGGClassifier (whose weights would not
    fit the checkpoint)."""
    cfg = OmegaConf.load(old_run / "config_resolved.yaml")
    cfg.model.encoder = {"_target_": "genlab.nets.classifier.ConvClassifier", "channels": [8]}
    OmegaConf.save(cfg, old_run / "config_resolved.yaml")
    proc = run_cli(f"ckpt_path={old_run / 'checkpoints' / 'last.ckpt'}", "metrics=none",
                   cwd=tmp_path, module="genlab.cli.eval", env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode != 0
    assert "genlab.nets.classifier.ConvClassifier" in proc.stderr
    assert "experiment=classifier_mnist" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "logs").exists() or not list((tmp_path / "logs").rglob("eval.json"))
