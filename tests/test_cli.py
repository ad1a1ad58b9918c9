"""The genlab-train command as a user runs it: from any directory, lazy imports, outputs."""

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import run_cli

# Bad values and near-miss names: the table in tests/test_config_errors.py.


def test_unknown_group_option_lists_the_choices(tmp_path: Path) -> None:
    proc = run_cli("model=vea", cwd=tmp_path)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "model" in proc.stderr and "conv_vae" in proc.stderr


def test_print_job_config_from_another_directory(tmp_path: Path) -> None:
    proc = run_cli("--cfg", "job", "experiment=vae_digits", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "_target_: genlab.models.vae.VAE" in proc.stdout
    assert "run_name: vae_digits" in proc.stdout


def test_cli_run_writes_outputs_in_unique_dirs(tmp_path: Path) -> None:
    args = ["debug=limit", "logger=csv", "model.iwae_samples=4",
            "trainer.enable_progress_bar=false"]
    first, second = run_cli(*args, cwd=tmp_path), run_cli(*args, cwd=tmp_path)
    assert first.returncode == 0 and second.returncode == 0, first.stderr[-3000:]
    runs = sorted((tmp_path / "logs" / "debug" / "runs").iterdir())
    assert len(runs) == 2 and runs[0] != runs[1]
    record = json.loads((runs[0] / "metrics.json").read_text())
    assert "test/nll_iwae" in record["metrics"] and Path(record["best_checkpoint"]).is_file()
    assert (runs[0] / ".hydra" / "config.yaml").is_file()
    assert "final record" in first.stdout and "nll_iwae" in first.stdout  # its table
    if shutil.which("srun") and "SLURM_JOB_ID" not in os.environ:
        # outside a SLURM job, Lightning's "prepend srun" hint is filtered (not genlab's way)
        assert "The `srun` command is available" not in first.stderr


@pytest.mark.parametrize("args,code", [(["model.latent_dim=0"], 2), (["--help"], 0),
                                       (["--cfg", "job"], 0), (["model=vea"], 2)])
def test_help_cfg_and_rejections_import_neither_torch_nor_lightning(tmp_path: Path, args,
                                                                     code: int) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "genlab.train", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == code
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "genlab.config.preflight" in imported  # genlab.train runs as __main__
    assert not {m for m in imported if m.split(".")[0] in ("torch", "lightning")}


def test_default_run_console_has_no_foreign_noise(tmp_path: Path) -> None:
    """The default run (with the W&B logger, offline) prints no advertisement (Lightning's
    litlogger tip), no deprecation warning from Lightning's _pytree shim and no W&B
    warning about settings it does not support (Lightning's anonymous=None). Filters
    are by message and module: a blanket filter would also hide genlab's own warnings,
    which the last assertion checks still reach the console."""
    proc = run_cli("logger=wandb", "trainer.max_epochs=1", "model.iwae_samples=2",
                   "metrics.n_samples=100", "metrics.features.max_epochs=1", cwd=tmp_path,
                   env={"WANDB_SILENT": "false"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    for noise in ("litlogger", "LeafSpec", "anonymous"):
        assert noise not in out, noise
    # a 1-epoch judge is below the accuracy floor: genlab's own warning is not filtered
    assert "UnreliableJudgeWarning" in out or "UNRELIABLE" in out

    # the judge that made the numbers is named beside them: in metrics.json's record and in
    # the W&B config, by its cache entry and its weights' hash (the same as in its meta.json)
    # — rules out a record that cannot tell which of two judges scored a run
    import yaml

    from wandb_records import config, offline_run_dir, records

    [run] = [p.parent for p in (tmp_path / "logs").rglob("metrics.json")]
    judge = json.loads((run / "metrics.json").read_text())["judge"]
    cache = yaml.safe_load((run / "config_resolved.yaml").read_text())["paths"]["cache_dir"]
    meta = Path(cache) / "classifiers" / judge["cache_entry"] / "meta.json"
    assert judge["weights_sha256"] == json.loads(meta.read_text())["weights_sha256"]
    logged = config(records(offline_run_dir(run)))
    assert logged["judge/weights_sha256"] == judge["weights_sha256"]
    assert logged["judge/cache_entry"] == judge["cache_entry"]
