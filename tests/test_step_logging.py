"""Logging only on Lightning's logging steps writes exactly what logging every step did."""

from pathlib import Path

import pytest

import genlab.models.gan.module
import genlab.models.vae
from genlab.cli.train import run


@pytest.mark.parametrize("overrides,module", [
    (["model.iwae_samples=2"], genlab.models.vae),
    (["experiment=dcgan_digits", "optimized_metric=null", "model.generator.base_channels=8",
      "model.discriminator.base_channels=8", "+trainer.limit_train_batches=12"],
     genlab.models.gan.module),
])
def test_same_csv_as_logging_every_step(compose_cfg, tmp_path: Path, monkeypatch,
                                        overrides: list[str], module) -> None:
    csvs = []
    for every_step in (False, True):
        if every_step:
            monkeypatch.setattr(module, "logs_this_step", lambda _module: True)
        cfg = compose_cfg(*overrides, "trainer.max_epochs=2", "callbacks=none",
                          "trainer.deterministic=true",
                          "trainer.log_every_n_steps=5", "test=false",
                          output_dir=tmp_path / f"run{every_step}")
        run(cfg)
        csvs.append((tmp_path / f"run{every_step}" / "csv" / "metrics.csv").read_text())
    assert csvs[0] == csvs[1] and csvs[0].count("\n") > 3
