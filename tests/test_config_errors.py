"""Every bad configuration is rejected before training: exit code 2, the key named, one
paragraph, no traceback. Plus a property test: random field values run or are rejected
cleanly, never crash inside training."""

from pathlib import Path

import pytest

from conftest import run_cli

# (overrides, text that must appear: the key or the suggested name)
BAD_CONFIGS = [
    # a GAN cannot step a plateau scheduler (it has no metric at its step): refused before torch
    (["experiment=gan_ring8", "model/scheduler=plateau"], "model.scheduler"),
    # a GAN's cosine over trainer.max_steps alone: its players step apart (schedule_budget)
    (["experiment=gan_ring8", "model/scheduler=cosine", "trainer.max_epochs=-1",
      "trainer.max_steps=300"], "model.scheduler.T_max"),
    # wrong types
    (["model.latent_dim=abc"], "model.latent_dim"),
    (["model.latent_dim=2.5"], "model.latent_dim"),
    (["model.binarize=maybe"], "model.binarize"),
    (["data.batch_size=[1,2]"], "data.batch_size"),
    (["trainer.max_epochs=ten"], "trainer.max_epochs"),
    (["model.encoder.hidden_dims=64"], "model.encoder.hidden_dims"),
    (["seed=forty"], "seed"),
    (["logger.wandb.offline=sometimes"], "logger.wandb.offline"),
    # out of range
    (["model.latent_dim=0"], "model.latent_dim"),
    (["model.latent_dim=-3"], "model.latent_dim"),
    (["data.batch_size=0"], "data.batch_size"),
    (["model.beta=-0.5"], "model.beta"),
    (["model.beta=nan"], "model.beta"),
    (["model.optimizer.lr=0"], "model.optimizer.lr"),
    (["model.optimizer.lr=inf"], "model.optimizer.lr"),
    (["model.gaussian_std=0"], "model.gaussian_std"),
    (["model.iwae_samples=-1"], "model.iwae_samples"),
    (["model.encoder.hidden_dims=[64,0]"], "model.encoder.hidden_dims"),
    (["trainer.max_epochs=-5"], "trainer.max_epochs"),
    (["trainer.devices=0"], "trainer.devices"),
    (["data.num_workers=-1"], "data.num_workers"),
    (["callbacks.samples.n=0"], "callbacks.samples.n"),
    (["callbacks.last_checkpoint.min_interval_s=-1"], "callbacks.last_checkpoint.min_interval_s"),
    (["trainer.log_every_n_steps=0"], "trainer.log_every_n_steps"),
    # Lightning cannot clip a fused Adam's gradients under 16-bit AMP (a run would fail at
    # its first step); both GAN players are checked, not only `model.optimizer`
    (["trainer.precision=16-mixed", "+trainer.gradient_clip_val=1.0"],
     "model.optimizer.fused"),
    (["model=dcgan", "trainer.precision=16-mixed", "+trainer.gradient_clip_val=1.0",
      "model.optimizer_g.fused=false"], "model.optimizer_d.fused"),
    # unknown options and near-miss names
    (["model.likelihood=poisson"], "model.likelihood"),
    (["trainer.precision=17"], "trainer.precision"),
    (["trainer.accelerator=quantum"], "trainer.accelerator"),
    (["optimized_mode=maximum"], "optimized_mode"),
    (["model=vea"], "Did you mean `vae`?"),
    (["data=mnits"], "Did you mean `mnist`?"),
    (["model/optimizer=adm"], "Did you mean `adam`?"),
    (["logger=wanb"], "Did you mean `wandb`?"),
    (["model.latnt_dim=3"], "Did you mean `latent_dim`?"),
    (["+model.latnt_dim=3"], "Did you mean `latent_dim`?"),
    (["trainer.max_epocs=3"], "Did you mean `max_epochs`?"),
    (["modle=vae"], "Did you mean `model`?"),
    (["data.dataset=mnist", "data=cifar10", "data.resize=nearest"], "data.resize"),
    (["model.latent_dim=[1"], "command line"),
    # impossible combinations
    (["model=conv_vae", "model.encoder.channels=[8,16,32,64]"], "model.encoder.channels"),
    (["model=dcgan", "data=image_folder", "data.image_size=48"], "data.image_size"),
    (["model=toy_gan"], "model.generator._target_"),
    (["data=ring8"], "data"),
    (["model.likelihood=gaussian"], "model.binarize"),
    (["optimized_mode=min"], "optimized_mode"),
    (["model=dcgan", "metrics=none"], "optimized_metric"),
    (["data.val_size=1000", "data.test_size=900"], "data.val_size + data.test_size"),
    (["data.val_size=1"], "data.val_size"),  # the suite's FID/KID need 2 val images
    (["model=cgan", "callbacks=gan", "callbacks.class_grid.per_class=65"],
     "callbacks.class_grid.per_class"),
    (["optimized_metric=test/elbo"], "optimized_metric"),  # selection on the test split
    (["metrics=default", "metrics.n_samples=3", "metrics.prc_neighborhood=3"],
     "metrics.prc_neighborhood"),
    (["model=cgan", "model.pack=2"], "model.pack"),
    (["model=dcgan", "+trainer.accumulate_grad_batches=2"], "trainer.accumulate_grad_batches"),
    # root keys; task_name and run_id name Hydra's run dir: checked before Hydra makes it
    (["seed=4294967296"], "seed"),
    (["train=maybe"], "train"),
    (["task_name=x/y"], "task_name"),
    (["run_id=a/b"], "run_id"),
]


@pytest.mark.parametrize("overrides,needle", BAD_CONFIGS,
                         ids=[" ".join(o) for o, _ in BAD_CONFIGS])
def test_bad_config_is_rejected_clearly(tmp_path: Path, overrides: list[str], needle: str) -> None:
    proc = run_cli(*overrides, cwd=tmp_path)
    err = proc.stderr
    assert proc.returncode == 2, err[-3000:]
    assert needle in err, err
    assert "Traceback" not in err and "allowed:" in err
    assert len(err.strip().splitlines()) <= 6
    assert not (tmp_path / "logs").exists() or not list((tmp_path / "logs").rglob("*.ckpt"))


def test_every_cross_key_rule_refuses_a_row_of_the_table(compose_cfg, monkeypatch) -> None:
    """Each rule of schema.CROSS_RULES (the impossible combinations) is the first to refuse
    some row of BAD_CONFIGS, whose per-key checks pass: so every rule is exercised end to
    end by test_bad_config_is_rejected_clearly. (A count of the table's rows, the test this
    replaces, any table passes.) Rules out a rule that never fires on a real composed
    config — a key path that moved, a rule left out of CROSS_RULES' order behind another
    that always answers first — and a new rule added without a command-line case."""
    from omegaconf import OmegaConf

    import genlab.config.schema as schema
    from genlab.errors import ConfigError

    rules, first_to_refuse = list(schema.CROSS_RULES), set()
    for overrides, _ in BAD_CONFIGS:
        try:
            plain = OmegaConf.to_container(compose_cfg(*overrides, tiny=False), resolve=True)
        except Exception:  # noqa: BLE001 — refused by Hydra or the pre-flight, not a rule
            continue
        monkeypatch.setattr(schema, "CROSS_RULES", [])
        try:
            schema.validate(plain)
        except ConfigError:
            continue  # a per-key refusal
        for rule in rules:
            try:
                rule(plain)
            except ConfigError:
                first_to_refuse.add(rule.__name__)
                break
    assert first_to_refuse == {rule.__name__ for rule in rules}


# every command pre-checks its overrides like genlab-train (not Hydra's exit 1 and message)
COMMAND_TYPOS = [
    ("genlab.cli.eval", ["ckpt_path=/no/such.ckpt", "metrics.n_sampels=5"], "`n_samples`"),
    ("genlab.cli.sample", ["ckpt_path=/no/such.ckpt", "nn=3"], "`n`"),
    ("genlab.cli.fetch", ["incepton=true"], "`inception`"),
    ("genlab.cli.eval", ["ckpt_path=/no/such.ckpt", "metrics/features=inceptoin"], "`inception`"),
]


@pytest.mark.parametrize("module,overrides,suggestion", COMMAND_TYPOS,
                         ids=[f"{m} {' '.join(o)}" for m, o, _ in COMMAND_TYPOS])
def test_commands_reject_mistyped_overrides_clearly(tmp_path: Path, module: str,
                                                    overrides: list[str],
                                                    suggestion: str) -> None:
    proc = run_cli(*overrides, cwd=tmp_path, module=module)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert f"Did you mean {suggestion}?" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "HYDRA_FULL_ERROR" not in proc.stderr
    assert not (tmp_path / "logs").exists()  # rejected before Hydra made a run dir


# values only the library checks (Lightning's Trainer): refused when the object is built,
# reported the same way
REFUSED = [
    (["+trainer.gradient_clip_algorithm=bogus"],
     "under `trainer`: Lightning refused it: `gradient_clip_algorithm` bogus is invalid"),
    (["+trainer.no_such_option=1"], "under `trainer.no_such_option`: Trainer has no parameter"),
]


@pytest.mark.parametrize("overrides,needle", REFUSED, ids=[" ".join(o) for o, _ in REFUSED])
def test_values_the_library_refuses_are_reported_clearly(tmp_path: Path, overrides: list[str],
                                                         needle: str) -> None:
    proc = run_cli(*overrides, "metrics=none", "logger=csv", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert needle in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 6
    assert not list(tmp_path.rglob("*.ckpt"))
