"""Property: any value in any VAE/digits field either runs or is rejected with a genlab
error (a one-paragraph message) — never an exception from inside torch or Lightning."""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genlab.errors import GenlabError

pytestmark = pytest.mark.slow

ints = st.integers(min_value=-3, max_value=70)
floats = st.one_of(st.floats(min_value=-2, max_value=20, allow_nan=False),
                   st.sampled_from([float("nan"), float("inf"), 0.0, 1e-9]))
FIELDS = {
    "model.latent_dim": ints,
    "model.beta": floats,
    "model.gaussian_std": floats,
    "model.kl_warmup_steps": ints,
    "model.iwae_samples": st.integers(min_value=-2, max_value=30),
    "model.likelihood": st.sampled_from(["bernoulli", "gaussian", "poisson", ""]),
    "model.binarize": st.booleans(),
    "model.encoder.hidden_dims": st.lists(st.integers(min_value=-1, max_value=48), max_size=3),
    "model.optimizer.lr": floats,
    "data.batch_size": st.integers(min_value=-1, max_value=3000),
    "data.val_size": st.integers(min_value=-1, max_value=1800),
}


def _fmt(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ",".join(map(str, value)) + "]"
    return "''" if value == "" else str(value)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(values=st.fixed_dictionaries({}, optional=FIELDS))
def test_random_values_run_or_are_rejected_cleanly(compose_cfg, tmp_path: Path,
                                                   values: dict) -> None:
    from genlab.overrides import preflight
    from genlab.train import run

    overrides = [f"{k}={_fmt(v)}" for k, v in values.items()]
    try:
        preflight([*overrides, f"paths.root_dir={tmp_path}"])
        cfg = compose_cfg("debug=fast", "callbacks=none", *overrides)
        run(cfg)
    except GenlabError as err:
        assert len(str(err).splitlines()) == 1 and str(err)
