"""Every key a user can type has a rule: compose every option of every config group
(each alone, on top of the defaults) and require that every key of every `_target_` node
is named by that target's schema in genlab/config/schema.py (or the schema is explicitly open for
a library class's other parameters). A key added to conf/ later without a rule fails here.
Also: every composition validates as it ships."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from genlab.config import config_dir
from genlab.config.schema import OPEN, target_schema, validate
from genlab.errors import ConfigError

ROOT = Path(config_dir())
# groups that are not chosen on the command line by their folder name: `optimize` is
# selected by each model config (all three options are reached through model=…); hydra/*
# configures Hydra itself, not genlab's objects; `app` is genlab-apply's group (conf/apply.yaml),
# not train.yaml's: its keys are ruled by COMMAND_SPECS["apply"] (tests/test_apps_cli.py)
SKIP = ("hydra", "optimize", "local", "app")


def _options() -> list[str]:
    overrides = []
    for folder in sorted(p for p in ROOT.rglob("*") if p.is_dir()):
        group = folder.relative_to(ROOT).as_posix()
        if group.split("/")[0] in SKIP:
            continue
        overrides += [f"{group}={f.stem}" for f in sorted(folder.glob("*.yaml"))]
    return overrides


OPTIONS = _options()


def _compose(override: str) -> dict:
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT)):
        cfg = compose("train", overrides=[override, "paths.output_dir=/tmp/x",
                                          "task_name=train"])
    return OmegaConf.to_container(cfg, resolve=False)


def _unruled(node, path: str = "") -> list[str]:
    out = []
    if isinstance(node, dict):
        target = node.get("_target_")
        if target:
            schema = target_schema(target)
            for key in node:
                if str(key).startswith("_"):
                    continue
                if schema is None or (key not in schema and OPEN not in schema):
                    out.append(f"{path}.{key} ({target})".lstrip("."))
        for key, child in node.items():
            out += _unruled(child, f"{path}.{key}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            out += _unruled(child, f"{path}[{i}]")
    return out


def test_the_enumeration_reaches_every_group() -> None:
    groups = {o.split("=")[0] for o in OPTIONS}
    assert {"data", "model", "model/optimizer", "model/scheduler", "trainer", "logger",
            "callbacks", "metrics", "metrics/features", "experiment", "debug",
            "hparams_search", "paths"} <= groups
    assert len(OPTIONS) > 50


@pytest.mark.parametrize("override", OPTIONS)
def test_every_key_of_every_target_has_a_rule(override: str) -> None:
    missing = _unruled(_compose(override))
    assert not missing, f"keys without a rule in genlab/config/schema.py: {missing}"


def test_a_key_without_a_rule_is_caught() -> None:
    """The detector itself: a made-up key under a closed schema is reported."""
    assert _unruled({"x": {"_target_": "genlab.callbacks.gan_plots.ClassGrid", "rows": 3}}) \
        == ["x.rows (genlab.callbacks.gan_plots.ClassGrid)"]


def test_selection_on_the_test_split_is_refused() -> None:
    with pytest.raises(ConfigError, match="optimized_metric.*val/fid_classifier"):
        validate({"optimized_metric": "test/fid_classifier", "optimized_mode": "min"})
