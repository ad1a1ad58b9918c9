"""A class's config keys are declared once, in its signature (genlab/config/keys.py): the
torch-free reading agrees with Python's, one edit adds a validated, defaulted and documented
key, the class checks the same rules when built directly, and no YAML repeats a declared
default."""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import yaml
from hydra.utils import get_object

from genlab.cli.keys import main
from genlab.config import config_dir
from genlab.config.keys import NO_DEFAULT, Key, declared, declaring_classes
from genlab.errors import ParameterError

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "genlab"


def python_view(target: str) -> dict[str, tuple[Key, object]]:
    """What Python itself sees: each `Annotated[T, Key(...)]` parameter → (Key, default),
    following **kwargs up the MRO (a data module hands its loader keys to its base)."""
    out: dict[str, tuple[Key, object]] = {}
    for klass in inspect.getmro(get_object(target)):
        if "__init__" not in vars(klass) or not klass.__module__.startswith("genlab."):
            continue
        hints = typing.get_type_hints(klass.__init__, include_extras=True)
        params = inspect.signature(klass.__init__).parameters
        for name, hint in hints.items():
            keys = [m for m in getattr(hint, "__metadata__", ()) if isinstance(m, Key)]
            if keys and name not in out:
                default = params[name].default
                out[name] = (keys[0], NO_DEFAULT if default is inspect.Parameter.empty
                             else default)
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            break
    return out


def test_the_models_and_nets_declare_their_keys() -> None:
    assert {"genlab.models.vae.VAE", "genlab.models.gan.module.GAN", "genlab.nets.mlp.MLPEncoder",
            "genlab.nets.conv.ConvDecoder", "genlab.nets.dcgan.DCGANGenerator",
            "genlab.nets.toy.MLPDiscriminator"} <= set(declaring_classes())
    assert declared("genlab.models.gan.GAN") == declared("genlab.models.gan.module.GAN")


@pytest.mark.parametrize("target", sorted(declaring_classes()))
def test_the_source_reading_agrees_with_python(target: str) -> None:
    """The schema reads signatures with `ast` (no torch); Python reads them by importing.
    Rules out a reader that misses a key, takes another default (a module constant such as
    MIN_STD evaluated wrongly, a tuple default), or attaches a doc to the wrong key."""
    ours, theirs = declared(target), python_view(target)
    assert list(ours) == list(theirs)
    for name, (key, default) in theirs.items():
        assert ours[name].doc == key.doc, name
        if default is NO_DEFAULT:
            assert ours[name].default is NO_DEFAULT, name
        else:
            assert ours[name].default == default, name
            assert ours[name].spec.accepts(list(default) if isinstance(default, tuple)
                                           else default), (name, default)


@pytest.mark.parametrize(("target", "key", "value", "allowed"), [
    ("genlab.models.vae.VAE", "likelihood", "poisson", "bernoulli | gaussian"),
    ("genlab.models.vae.VAE", "iwae_chunk", 0, "an integer ≥ 1 (or null)"),
    ("genlab.models.gan.GAN", "ema_decay", 1.0, "in [1e-06, 0.999999] (or null)"),
    ("genlab.nets.mlp.MLPEncoder", "hidden_dims", [64, 0], "a list of an integer ≥ 1"),
])
def test_the_declaration_refuses_what_it_does_not_allow(target, key, value, allowed) -> None:
    spec = declared(target)[key].spec
    assert not spec.accepts(value) and allowed in spec.describe()


EDIT = ('        dropout: Annotated[float, Key("test key: dropout before the decoder", '
        'min=0, max=1)] = 0.25,\n')

PROBE = """
import json, sys
import genlab.config
from genlab.config import config_dir
from genlab.config.keys import table
from genlab.config.schema import validate
from genlab.errors import ConfigError
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
assert genlab.config.__file__.startswith(sys.argv[1]), genlab.config.__file__
def composed(*overrides):
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        cfg = compose("train", overrides=["paths.output_dir=/tmp/x", *overrides])
    return OmegaConf.to_container(cfg, resolve=True)
out = {"default": composed()["model"]["dropout"],
       "set": composed("model.dropout=0.5")["model"]["dropout"]}
try:
    validate(composed("model.dropout=2"))
except ConfigError as err:
    out["refused"] = str(err)
out["table"] = table("genlab.models.vae.VAE")
out["torch"] = "torch" in sys.modules
print(json.dumps(out))
"""


def test_one_edit_adds_a_validated_defaulted_documented_key(tmp_path: Path) -> None:
    """A copy of the package whose VAE signature gains one annotated parameter, and nothing
    else: the composed config has the key at its default (overridable without `+`), the
    pre-flight refuses a value outside its range naming the key and the range, and the key
    table documents it; torch is never imported. Rules out a declaration that also needs a
    YAML line (Hydra: "Key 'dropout' is not in struct") or a schema entry (unvalidated)."""
    copy = tmp_path / "genlab"
    shutil.copytree(PACKAGE, copy, symlinks=False,
                    ignore=shutil.ignore_patterns("__pycache__"))
    source = copy / "models" / "vae.py"
    text = source.read_text()
    anchor = next(line for line in text.splitlines(keepends=True)
                  if line.lstrip().startswith("latent_dim: Annotated["))
    source.write_text(text.replace(anchor, anchor + EDIT, 1))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", PROBE, str(copy)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = yaml.safe_load(done.stdout.strip().splitlines()[-1])
    assert (out["default"], out["set"]) == (0.25, 0.5)
    assert "`model.dropout` = 2" in out["refused"] and "in [0, 1]" in out["refused"]
    assert "test key: dropout before the decoder" in out["refused"]  # its doc, in the refusal
    assert "| `dropout` | `0.25` | a number in [0, 1] | test key: dropout before the decoder |" \
        in out["table"]
    assert not out["torch"]


def test_a_class_built_directly_checks_the_same_rules() -> None:
    """A notebook that builds the VAE or GAN without a config gets the declaration's
    refusal, and the GAN the schema's cross-field rule. Rules out classes that trust the
    pre-flight alone."""
    from genlab.models.gan import GAN
    from genlab.models.vae import VAE

    mlp = {"_target_": "genlab.nets.mlp.MLPEncoder", "hidden_dims": [8]}
    dec = {"_target_": "genlab.nets.mlp.MLPDecoder", "hidden_dims": [8]}
    adam = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 1e-3}
    with pytest.raises(ParameterError, match="latent_dim"):
        VAE(data_shape=[1, 8, 8], encoder=mlp, decoder=dec, optimizer=adam, latent_dim=0)
    nets = {"generator": {"_target_": "genlab.nets.dcgan.DCGANGenerator"},
            "discriminator": {"_target_": "genlab.nets.dcgan.DCGANDiscriminator"}}
    with pytest.raises(ParameterError, match="objective"):
        GAN(data_shape=[1, 8, 8], **nets, optimizer_g=adam, optimizer_d=adam,
            objective="wasserstein")
    with pytest.raises(Exception, match="model.pack"):
        GAN(data_shape=[1, 8, 8], **nets, optimizer_g=adam, optimizer_d=adam,
            conditional=True, num_classes=10, pack=2)


def _keys_entries(node: dict) -> dict[str, str]:
    """A YAML's `/keys/<target>@<where>` defaults entries: where → target."""
    out = {}
    for entry in node.get("defaults") or []:
        if isinstance(entry, str) and entry.startswith("/keys/"):
            target, _, where = entry.removeprefix("/keys/").partition("@")
            out[where] = target
    return out


@pytest.mark.parametrize("path", sorted(str(p.relative_to(config_dir()))
                                        for p in config_dir().rglob("*.yaml")
                                        if "/keys/" in p.read_text()))
def test_a_yaml_sets_only_what_it_changes(path: str) -> None:
    """A YAML built on a class's declared keys sets a key only to another value than the
    declared default (a repeated default is a second place that drifts), and names no
    `_target_` of its own. Fails for `latent_dim: 16` in vae.yaml."""
    node = yaml.safe_load((config_dir() / path).read_text())
    for where, target in _keys_entries(node).items():
        body = node if where == "_here_" else node.get(where) or {}
        assert "_target_" not in body, f"{path}: {where} repeats its _target_"
        repeated = {k: v for k, v in body.items() if k in declared(target)
                    and declared(target)[k].default == v}
        assert not repeated, f"{path}: {where} repeats the declared defaults {repeated}"


def test_the_key_tables_print(capsys) -> None:
    """`genlab-keys VAE` (a class name or a `_target_`): its table; an unknown name lists
    the names there are."""
    main(["VAE"])
    out = capsys.readouterr().out
    assert out.startswith("### `genlab.models.vae.VAE`")
    assert "| `latent_dim` | `16` | an integer ≥ 1 | size of the latent z |" in out
    main(["genlab.data.toy2d.Ring8"])
    assert "| `n_modes` | `8` | an integer ≥ 1 | Gaussians on it |" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="names no class that declares keys.*SampleGrid"):
        main(["Nope"])


def test_genlab_keys_is_a_command() -> None:
    done = subprocess.run([sys.executable, "-m", "genlab.cli.keys", "GAN"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "| `ema_batchnorm` | `recalibrated` |" in done.stdout
    assert not done.stderr
