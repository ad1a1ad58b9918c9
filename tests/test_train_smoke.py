import json
import math
from pathlib import Path

from genlab.cli.train import run


def test_fast_dev_run_default(compose_cfg, tmp_path: Path) -> None:
    """The default run (MLP VAE, binarised digits) under debug=fast: one batch of fit,
    validation and test, whose test numbers obey what they are. Rules out a test stage that
    does not run (the old test checked only that metrics.json exists), an ELBO logged with
    a loss's sign or as a sum over the batch (an untrained model's ELBO per example is about
    −64 log 2: each of 64 binary pixels at probability ½), an ELBO that is not recon − kl
    (a β-weighted one), a negative KL, an IWAE bound looser than the ELBO, and grids or
    plots that a default run no longer writes."""
    run(compose_cfg("debug=fast"))
    out = tmp_path / "run"
    values = json.loads((out / "metrics.json").read_text())["test"]["values"]
    elbo, recon, kl = values["test/elbo"], values["test/recon"], values["test/kl"]
    assert all(math.isfinite(v) for v in values.values())
    assert abs(elbo - (recon - kl)) < 1e-3 and kl >= 0
    assert -64 * math.log(2) - 5 < elbo < 0
    assert 0 < values["test/nll_iwae"] <= -elbo + 0.1
    images = sorted(p.name for p in (out / "images").glob("*.png"))
    assert images == ["interpolation_test.png", "latent_space_test.png",
                      "reconstructions_epoch000.png", "samples_epoch000.png"]
