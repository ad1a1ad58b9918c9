"""A run's record across its whole life (issue 22): resume keeps the history (the CSV, the
W&B run, TensorBoard, the figures drawn from it), one step axis, one epoch per table, and
genlab-eval reproducing the run's own test numbers.

The twin tests compare the *record*, not only final metrics: a run stopped after 3 epochs
and resumed to 6 must leave the byte-identical `csv/metrics.csv` of 6 uninterrupted epochs.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import run_cli, run_dirs
from genlab.cli.train import run
from wandb_records import history, records

# deterministic, tiny, every training row logged a few times an epoch
BASE = ["callbacks=checkpoint", "trainer.deterministic=true", "seed=7",
        "+trainer.limit_train_batches=10", "+trainer.limit_val_batches=2",
        "trainer.log_every_n_steps=3", "model.iwae_samples=4", "data.batch_size=32"]
# a GAN on the 2-D ring with D stepped twice per G step (global_step ≠ batches), constant
# learning rates (a cosine schedule depends on max_epochs, so 3 + 3 would not be 6)
GAN = ["experiment=gan_ring8", "model.scheduler=null", "model.d_steps=2",
       "callbacks.d_trace.every_n_epochs=1", "callbacks.jsd_trace.every_n_epochs=1",
       "callbacks.toy_scatter.every_n_epochs=3", "data.train_size=640", "data.val_size=256",
       "data.test_size=256", "data.batch_size=64", "model.jsd_samples=256",
       "callbacks.progress_bar=null",
       "trainer.log_every_n_steps=3", "trainer.deterministic=true", "seed=7"]


def _rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "csv" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def _twin_and_resumed(compose_cfg, tmp_path: Path, overrides: list[str],
                      before_resume=lambda: None) -> tuple[Path, Path]:
    twin, resumed = tmp_path / "twin", tmp_path / "resumed"
    run(compose_cfg(*overrides, "trainer.max_epochs=6", output_dir=twin))
    run(compose_cfg(*overrides, "trainer.max_epochs=3", output_dir=resumed))
    assert {int(r["epoch"]) for r in _rows(resumed)} == {0, 1, 2, 3}  # 3 epochs + test
    before_resume()
    run(compose_cfg(*overrides, "trainer.max_epochs=6", "resume=auto", output_dir=resumed))
    return twin, resumed


def test_vae_resumed_to_6_epochs_writes_the_csv_of_6_uninterrupted(compose_cfg,
                                                                   tmp_path: Path) -> None:
    """Rules out Lightning's CSVLogger (deletes metrics.csv on resume: epochs 3–5 only), a
    logger that appends without cutting (the first part's test row stays in the middle), and
    a resume that loses RNG or loop state (values or steps drift)."""
    twin, resumed = _twin_and_resumed(compose_cfg, tmp_path, BASE)
    assert (resumed / "csv" / "metrics.csv").read_bytes() == \
        (twin / "csv" / "metrics.csv").read_bytes()
    assert len(_rows(twin)) > 20


def test_gan_resumed_record_and_figures_cover_the_whole_run(compose_cfg, tmp_path: Path,
                                                            monkeypatch) -> None:
    """The GAN twin, with d_steps = 2. Rules out figures drawn from in-memory lists that a
    restart empties (the D trace would start at the resume step, the JSD trace hold 3
    points) and a step axis of optimizer steps (1.5 × the batches here)."""
    import matplotlib.axes

    drawn: list[list[float]] = []
    real_plot = matplotlib.axes.Axes.plot

    def recording_plot(ax, *args, **kwargs):
        if args and len(args) > 1:
            drawn.append(list(args[0]))
        return real_plot(ax, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "plot", recording_plot)
    twin, resumed = _twin_and_resumed(compose_cfg, tmp_path, GAN, before_resume=drawn.clear)
    assert (resumed / "csv" / "metrics.csv").read_bytes() == \
        (twin / "csv" / "metrics.csv").read_bytes()
    rows = _rows(resumed)
    d_steps = [float(r["step"]) for r in rows if r.get("train/d_real")]
    # the resumed run's D traces start at the first logged step of the whole run, and its
    # last one has every step; its JSD figures have all 6 epochs, not the 3 after the resume
    assert d_steps[0] < 10 and d_steps[-1] > 50 and d_steps in drawn
    assert [0.0, 1.0, 2.0, 3.0, 4.0, 5.0] in drawn
    assert all(x[0] <= d_steps[0] for x in drawn)
    # one axis: 10 batches per epoch → the last validation at step 59, not 1.5 × that
    assert max(int(r["step"]) for r in rows if r.get("val/jsd_lower_bound")) == 59
    gstep = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert gstep == 60 + 30  # 60 D steps + 30 G steps: the optimizer count differs


def test_images_and_scalars_share_one_step(compose_cfg, tmp_path: Path) -> None:
    """A cGAN (two optimizers) logging to W&B: the sample grids' `trainer/global_step` is
    the step of the validation scalars of the same epoch, and the epochs in W&B's summary
    are those of metrics.json and the file names. Rules out images logged at
    `trainer.global_step` (optimizer steps: 2 × batches here) and a Lightning upgrade that
    renames the private counter `logging_step` reads."""
    out = tmp_path / "run"
    run(compose_cfg("model=cgan", "callbacks=gan", "logger=many", "trainer.max_epochs=2",
                    "seed=1", "optimized_metric=val/d_real",
                    "+trainer.limit_train_batches=6", "+trainer.limit_val_batches=2",
                    "callbacks.samples.every_n_epochs=1", "callbacks.class_grid.every_n_epochs=1",
                    "callbacks.progress_bar=null", "model.generator.base_channels=8",
                    "model.discriminator.base_channels=8", output_dir=out))
    val_steps = sorted({int(r["step"]) for r in _rows(out) if r.get("val/d_real")})
    assert val_steps == [5, 11]
    [wandb_dir] = (out / "wandb").glob("offline-run-*")
    hist = history(records(wandb_dir))
    image_steps = sorted({h["trainer/global_step"] for h in hist
                          if any(k.startswith("class_grid") for k in h)})
    assert image_steps == val_steps
    scalar_steps = sorted({h["trainer/global_step"] for h in hist if "val/d_real" in h})
    assert scalar_steps == val_steps
    # one epoch numbering: W&B's summary, metrics.json and the checkpoint's file name agree
    summary: dict = {}
    for r in records(wandb_dir):
        if r["type"] == "summary":
            summary.update(r["summary"]["update"])
    record = json.loads((out / "metrics.json").read_text())
    assert summary["best/epoch"] == record["best"]["epoch"] == record["test"]["epoch"]
    assert Path(record["best"]["checkpoint"]).name == f"best-epoch{summary['best/epoch']:03d}.ckpt"
    assert summary["last/epoch"] == record["last"]["epoch"] == 1


def test_final_record_is_one_epoch_per_group(compose_cfg, tmp_path: Path) -> None:
    """metrics.json: the best epoch's number, checkpoint and *all* its validation values
    (recon + kl = elbo in every group, which a table mixing the best ELBO with the last
    epoch's recon and kl fails), the test of that checkpoint, the last epoch labelled."""
    out = tmp_path / "run"
    run(compose_cfg(*BASE, "trainer.max_epochs=8", "model.optimizer.lr=0.01",
                    output_dir=out))
    record = json.loads((out / "metrics.json").read_text())
    by_epoch: dict[int, dict] = {}
    for r in _rows(out):
        if r.get("val/elbo"):
            by_epoch[int(r["epoch"])] = {k: float(v) for k, v in r.items()
                                         if k.startswith("val/") and v}
    best_epoch = max(by_epoch, key=lambda e: by_epoch[e]["val/elbo"])
    assert record["best"]["epoch"] == best_epoch
    assert Path(record["best"]["checkpoint"]).name == f"best-epoch{best_epoch:03d}.ckpt"
    assert record["best"]["val"] == by_epoch[best_epoch]
    assert record["last"]["epoch"] == 7 and record["last"]["val"] == by_epoch[7]
    assert record["test"]["epoch"] == best_epoch
    assert record["test"]["checkpoint"] == record["best"]["checkpoint"]
    for group in (record["best"]["val"], record["last"]["val"], record["test"]["values"],
                  record["metrics"]):
        stage = "test" if "test/elbo" in group and "val/elbo" not in group else "val"
        assert group[f"{stage}/recon"] - group[f"{stage}/kl"] == \
            pytest.approx(group[f"{stage}/elbo"], abs=1e-4)
    assert record["metrics"] == {**record["best"]["val"], **record["test"]["values"]}


@pytest.mark.parametrize("model", [
    pytest.param(["model=vae", "metrics=none"], id="vae"),
    pytest.param(["model=conv_vae", "metrics=none"], id="conv_vae"),
    pytest.param(["model=cgan", "model.generator.base_channels=8",
                  "model.discriminator.base_channels=8", "metrics=default",
                  "metrics.n_samples=200", "metrics.kid_subset_size=50",
                  "metrics.features.max_epochs=1"], id="cgan"),
])
def test_eval_reproduces_the_runs_test_numbers(model: list[str], tmp_path: Path) -> None:
    """genlab-eval of the tested checkpoint gives the run's test values bit for bit. Rules
    out test-time posterior noise from the global RNG (the run's test follows training,
    eval starts fresh: −27.188 vs −27.208 on a conv VAE before) and eval running other
    kernels than the run (NHWC weights on the CPU)."""
    env = {"OMP_NUM_THREADS": "1"}
    train = run_cli(*model, "logger=csv", "trainer.max_epochs=2", "+trainer.limit_train_batches=5",
                    "callbacks=checkpoint", "trainer.enable_progress_bar=false", "run_id=a",
                    cwd=tmp_path, env=env)
    assert train.returncode == 0, train.stderr[-3000:]
    record = json.loads((tmp_path / "logs/train/runs/a/metrics.json").read_text())["test"]
    # no overrides: eval takes the run's own metric settings
    ev = run_cli(f"ckpt_path={record['checkpoint']}", cwd=tmp_path, module="genlab.cli.eval",
                 env=env)
    assert ev.returncode == 0, ev.stderr[-3000:]
    got = json.loads((run_dirs(tmp_path, "eval")[0] / "eval.json").read_text())["metrics"]
    assert got == record["values"]
    assert {"test/elbo", "test/nll_iwae"} <= set(got) or "test/fid_classifier" in got


def test_checkpoint_alone_continues_a_gan_run_in_place(tmp_path: Path) -> None:
    """The README's resume line for a GAN run: composed from the run's own overrides (not
    the default VAE: a `load_state_dict` wall before), the same run dir, CSV and W&B run;
    a changed hyper-parameter makes a child run; a mismatched model or a spent epoch
    budget is one paragraph."""
    small = ["data.train_size=320", "data.val_size=128", "data.test_size=128",
             "model.jsd_samples=128", "trainer.enable_progress_bar=false"]
    first = run_cli("experiment=gan_ring8", *small, "trainer.max_epochs=2", "logger=many",
                    "run_id=ring", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    origin = tmp_path / "logs/train/runs/ring"
    last = origin / "checkpoints" / "last.ckpt"

    again = run_cli(f"ckpt_path={last}", "trainer.max_epochs=3", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"Continuing run {origin}" in again.stdout
    assert run_dirs(tmp_path) == [origin]
    assert max(int(r["epoch"]) for r in _rows(origin) if r.get("val/hq_ratio")) == 2
    assert "Previous log files" not in again.stderr
    assert "best_model_score" not in again.stderr
    wandb_runs = sorted((origin / "wandb").glob("offline-run-*"))
    assert len({p.name.rsplit("-", 1)[1] for p in wandb_runs}) == 1 < len(wandb_runs)
    steps = [[h["trainer/global_step"] for h in history(records(r)) if "trainer/global_step" in h]
             for r in wandb_runs]
    # 2 batches of 256 per epoch: the first W&B part ends in step 4's test, the continued
    # history starts after the 4 steps run
    assert max(steps[0]) == 4 and min(steps[-1]) >= 4 and max(steps[-1]) == 6

    child = run_cli(f"ckpt_path={last}", "model.optimizer_d.lr=0.0005", "trainer.max_epochs=1",
                    cwd=tmp_path)
    assert child.returncode == 0, child.stderr[-3000:]
    assert "Child run" in child.stdout and "model.optimizer_d.lr 0.001 → 0.0005" in child.stdout
    assert len(run_dirs(tmp_path)) == 2

    for args, needle in (([f"ckpt_path={last}", "model.latent_dim=3"], "does not fit"),
                         ([f"ckpt_path={last}", "trainer.max_epochs=1"], "already run 3")):
        before = (origin / "csv" / "metrics.csv").read_bytes()
        bad = run_cli(*args, cwd=tmp_path)
        assert bad.returncode != 0 and needle in bad.stderr and "Traceback" not in bad.stderr
        assert (origin / "csv" / "metrics.csv").read_bytes() == before


@pytest.mark.slow
def test_kill_9_mid_epoch_then_resume_replaces_the_rows_after_the_checkpoint(
        tmp_path: Path) -> None:
    """SIGKILL after rows past the checkpoint reached the CSV; `resume=auto` must replace
    them (the twin's CSV, byte for byte) and TensorBoard must show each step once. Rules out
    a logger that keeps every row it finds (duplicated steps) and one that cuts at the
    epoch instead of the checkpoint's step."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    # 150 batches of 8 an epoch: the kill lands well inside epoch 1, after its first rows
    base = [a for a in BASE if not a.startswith(("data.batch_size", "+trainer.limit_train"))]
    args = [sys.executable, "-m", "genlab.train", *base, "data.batch_size=8",
            "+trainer.limit_train_batches=150",
            "trainer.max_epochs=4", "logger=many", "+logger.csv.flush_logs_every_n_steps=1",
            "callbacks.last_checkpoint.min_interval_s=0", "trainer.enable_progress_bar=false",
            "metrics=none"]
    env = {**os.environ, "GENLAB_ROOT": str(tmp_path), "WANDB_MODE": "offline",
           "OMP_NUM_THREADS": "1"}
    twin = subprocess.run([*args, "run_id=twin"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert twin.returncode == 0, twin.stderr[-3000:]
    runs = tmp_path / "logs" / "train" / "runs"
    killed = runs / "killed"
    proc = subprocess.Popen([*args, "run_id=killed", "resume=auto"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def past_checkpoint() -> bool:
        try:
            return any(r["epoch"] == "1" and r.get("train/elbo") for r in _rows(killed))
        except (FileNotFoundError, KeyError):
            return False

    deadline = time.monotonic() + 300
    while not past_checkpoint() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    at_kill = _rows(killed)
    assert torch.load(killed / "checkpoints/last.ckpt", weights_only=True)["epoch"] == 0
    assert any(r["epoch"] == "1" for r in at_kill)  # rows past the checkpoint were on disk

    resumed = subprocess.run([*args, "run_id=killed", "resume=auto"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (killed / "csv/metrics.csv").read_bytes() == (runs / "twin/csv/metrics.csv").read_bytes()
    steps = {}
    for name in ("twin", "killed"):
        acc = EventAccumulator(str(runs / name / "tensorboard"))
        acc.Reload()
        steps[name] = [e.step for e in acc.Scalars("train/elbo")]
    assert steps["killed"] == steps["twin"]
