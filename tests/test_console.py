"""The console of a run, as a user sees it (issue 25): a short header instead of the
200-line config tree, no foreign noise, one final table and one closing paragraph."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import run_cli

FOREIGN = re.compile(r"Warning|warn\(|litlogger|LeafSpec|GPU available|TPU available|"
                     r"Total FLOPs|Test metric|Restoring states|wandb:|Traceback")


def test_default_run_console_fits_a_screen_without_foreign_noise(tmp_path: Path) -> None:
    """The default run (W&B offline), 2 epochs: at most 30 lines from start to end with no
    warning or library chatter; the header names the run dir and the choices, the closing
    paragraph the best checkpoint and the commands to continue and to evaluate. Rules out
    the config tree printed by default (~200 lines), Lightning's "Test metric" table beside
    genlab's, W&B's history/summary block and Lightning's `log_every_n_steps` warning."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_SILENT")}
    proc = subprocess.run(
        [sys.executable, "-m", "genlab.train", "trainer.max_epochs=2", "metrics=none",
         "trainer.enable_progress_bar=false", "model.iwae_samples=10", "run_id=c"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**env, "WANDB_MODE": "offline", "GENLAB_ROOT": str(tmp_path),
             "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert len(lines) <= 30, "\n".join(lines)
    noisy = [line for line in lines if FOREIGN.search(line)]
    assert not noisy, noisy
    run = tmp_path / "logs" / "train" / "runs" / "c"
    text = "\n".join(lines)
    assert f"genlab-train {run}" in text and "data digits · model vae" in text
    assert "final record" in text and text.count("nll_iwae") == 1
    assert f"genlab-train ckpt_path={run}/checkpoints/last.ckpt" in text
    assert "genlab-eval ckpt_path=" in text and "best: epoch 1" in text


def test_print_config_prints_the_tree(tmp_path: Path) -> None:
    """The full tree stays one key away. Rules out a header with no way back to the tree."""
    proc = run_cli("print_config=true", "trainer.max_epochs=1", "metrics=none",
                   "logger=csv", "callbacks=none", "model.iwae_samples=2", cwd=tmp_path,
                   env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "latent_dim: 16" in proc.stdout and len(proc.stdout.splitlines()) > 100


def test_version_is_genlabs(tmp_path: Path) -> None:
    """Rules out `--version` answered by Hydra ("Hydra 1.3.8")."""
    for module in ("genlab.train", "genlab.cli.eval"):
        proc = run_cli("--version", cwd=tmp_path, module=module)
        assert proc.returncode == 0 and proc.stdout.startswith("genlab "), proc.stdout
        assert "lightning " in proc.stdout and "Hydra" not in proc.stdout


def test_genlab_warnings_print_as_one_plain_line(tmp_path: Path) -> None:
    """genlab's own warnings (the small-reference FID one shows in every default digits
    run) print as one `genlab warning:` line; any other warning keeps Python's format.
    Rules out the default format's two lines (file:line and the source line inside genlab)
    and a formatter that swallows or rewrites foreign warnings."""
    code = ("import warnings\n"
            "from genlab.runtime.environment import tweak_environment\n"
            "from genlab.metrics.suite import SmallReferenceWarning\n"
            "tweak_environment()\n"
            "warnings.warn('fid from 180 references', SmallReferenceWarning)\n"
            "warnings.warn('a foreign one', UserWarning)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120, check=True)
    lines = proc.stderr.splitlines()
    assert lines[0] == "genlab warning: fid from 180 references", lines
    assert any("UserWarning: a foreign one" in line for line in lines[1:]), lines
    assert "warnings.warn('fid" not in proc.stderr


def test_a_continued_run_says_so_once_and_its_log_keeps_lightnings_line(tmp_path: Path) -> None:
    """`genlab-train ckpt_path=<last.ckpt>` (in place): the console says "Continuing run …"
    once, without Lightning's restore lines or its "checkpoint directory is not empty"
    warning; the job's log file keeps Lightning's "Restoring states …" line (how a requeued
    SLURM job's log shows it resumed). Rules out filtering the line at the logger (then the
    log loses it too) and leaving it on the console beside genlab's own line."""
    base = ["metrics=none", "logger=csv", "trainer.enable_progress_bar=false",
            "model.iwae_samples=0", "run_id=k"]
    first = run_cli(*base, "trainer.max_epochs=1", cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert first.returncode == 0, first.stderr[-3000:]
    run = tmp_path / "logs" / "train" / "runs" / "k"
    again = run_cli(f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", "trainer.max_epochs=2",
                    cwd=tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert again.returncode == 0, again.stderr[-3000:]
    console = again.stdout + again.stderr
    assert console.count("Continuing run") == 1, console
    assert "Restoring states" not in console and "Restored all states" not in console
    assert "exists and is not empty" not in console
    assert "Restoring states from the checkpoint path at" in (run / "train.log").read_text()


def test_the_final_record_names_what_chose_its_epoch() -> None:
    """The first column says which metric chose the epoch; with optimized_metric=null it
    says none did. Rules out the old `(None)` heading under "best epoch"."""
    from rich.console import Console

    from genlab.console import record_table

    def heading(monitor):
        record = {"best": {"epoch": 3, "monitor": monitor, "val": {"val/elbo": -27.1}},
                  "test": {"epoch": 3, "values": {"test/elbo": -27.0}}}
        console = Console(width=120, record=True)
        console.print(record_table(record))
        return console.export_text()

    assert "best epoch 3" in heading("val/elbo") and "(val/elbo)" in heading("val/elbo")
    text = heading(None)
    assert "None" not in text and "best" not in text
    assert "val, epoch 3" in text and "no optimized_metric" in text
