"""Config validation that runs before torch or Lightning is imported.

Hydra already rejects unknown config groups and keys that are not in the composed config;
this layer checks values: types, ranges, allowed choices and near-miss key names. Rules are
attached to a node's `_target_`, so a model or dataset brings its rules by its class path
(add an entry to `TARGET_SCHEMAS` when you add one); targets without an entry are passed
through to instantiation unchecked. Keys starting with `_` (Hydra's) are ignored.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from genlab.errors import ConfigError


@dataclass(frozen=True)
class Spec:
    """What a config value may be. `kind`: int, float, bool, str, list, dict, path, any."""

    kind: str = "any"
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] = ()
    nullable: bool = False

    def describe(self) -> str:
        if self.choices:
            text = " | ".join(str(c) for c in self.choices)
        else:
            text = {"float": "a number", "int": "an integer", "bool": "true or false",
                    "str": "a string", "list": "a list", "dict": "a mapping",
                    "path": "a path"}.get(self.kind, "any value")
            if self.min is not None and self.max is not None:
                text += f" in [{self.min}, {self.max}]"
            elif self.min is not None:
                text += f" ≥ {self.min}"
            elif self.max is not None:
                text += f" ≤ {self.max}"
        return text + (" (or null)" if self.nullable else "")

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.nullable
        if self.kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            return False
        if self.kind == "float" and (isinstance(value, bool) or not isinstance(value, int | float)):
            return False
        if self.kind == "bool" and not isinstance(value, bool):
            return False
        if self.kind in ("str", "path") and not isinstance(value, str):
            return False
        if self.kind == "list" and not isinstance(value, list | tuple):
            return False
        if self.kind == "dict" and not isinstance(value, Mapping):
            return False
        if self.choices and value not in self.choices:
            return False
        if self.min is not None and value < self.min:
            return False
        return self.max is None or value <= self.max


INT_POS = Spec("int", min=1)
INT_NONNEG = Spec("int", min=0)
FLOAT_POS = Spec("float", min=1e-12)
BOOL = Spec("bool")
STR = Spec("str")
ANY = Spec()

_SPLIT = {"name": STR, "batch_size": INT_POS, "eval_batch_size": Spec("int", min=1, nullable=True),
          "num_workers": INT_NONNEG, "pin_memory": BOOL, "split_seed": INT_NONNEG}
_NET = {"hidden_dims": Spec("list"), "channels": Spec("list")}

TARGET_SCHEMAS: dict[str, dict[str, Spec]] = {
    "genlab.data.digits.DigitsDataModule": {
        **_SPLIT, "val_size": INT_POS, "test_size": INT_POS,
    },
    "genlab.data.torchvision_sets.TorchvisionDataModule": {
        **_SPLIT, "dataset": Spec("str", choices=("mnist", "fashion_mnist", "cifar10")),
        "data_dir": Spec("path"), "download": BOOL, "image_size": Spec("int", min=8, nullable=True),
        "resize": Spec("str", choices=("pad", "bilinear")), "val_size": INT_POS,
        "verify_md5": BOOL,
    },
    "genlab.data.image_folder.ImageFolderDataModule": {
        **_SPLIT, "root": Spec("path"), "image_size": Spec("int", min=4),
        "channels": Spec("int", choices=(1, 3)), "val_fraction": Spec("float", 0, 0.9),
        "test_fraction": Spec("float", 0, 0.9),
    },
    "genlab.models.vae.VAE": {
        "name": STR, "latent_dim": INT_POS, "likelihood": Spec("str", choices=("bernoulli", "gaussian")),
        "binarize": BOOL, "gaussian_std": FLOAT_POS, "learn_std": BOOL, "beta": Spec("float", min=0),
        "kl_warmup_steps": INT_NONNEG, "iwae_samples": INT_NONNEG, "iwae_chunk": INT_POS,
        "encoder": Spec("dict"), "decoder": Spec("dict"), "optimizer": Spec("dict"),
        "scheduler": Spec("dict", nullable=True),
    },
    "genlab.nets.mlp.MLPEncoder": _NET,
    "genlab.nets.mlp.MLPDecoder": _NET,
    "genlab.nets.conv.ConvEncoder": _NET,
    "genlab.nets.conv.ConvDecoder": _NET,
    # GAN family (genlab/models/gan.py, nets/dcgan.py, nets/toy.py, data/toy2d.py)
    "genlab.models.gan.GAN": {
        "name": STR, "latent_dim": INT_POS,
        "objective": Spec("str", choices=("minimax", "non_saturating")), "d_steps": INT_POS,
        "label_smoothing": Spec("float", 0, 0.5), "conditional": BOOL,
        "conditioning": Spec("str", choices=("concat", "projection")), "embed_dim": INT_POS,
        "pack": INT_POS, "fixed_noise_size": INT_POS, "fixed_noise_seed": INT_NONNEG,
        "generator": Spec("dict"), "discriminator": Spec("dict"),
        "optimizer_g": Spec("dict"), "optimizer_d": Spec("dict"),
    },
    "genlab.nets.dcgan.DCGANGenerator": {"base_channels": INT_POS},
    "genlab.nets.dcgan.DCGANDiscriminator": {"base_channels": INT_POS},
    "genlab.nets.toy.MLPGenerator": {"hidden_dims": Spec("list")},
    "genlab.nets.toy.MLPDiscriminator": {"hidden_dims": Spec("list")},
    "genlab.data.toy2d.Ring8": {
        **_SPLIT, "radius": FLOAT_POS, "n_modes": INT_POS, "std": FLOAT_POS,
        "train_size": INT_POS, "val_size": INT_POS, "test_size": INT_POS,
    },
    "genlab.data.toy2d.Grid25": {
        **_SPLIT, "side": INT_POS, "spacing": FLOAT_POS, "std": FLOAT_POS,
        "train_size": INT_POS, "val_size": INT_POS, "test_size": INT_POS,
    },
}

# Keys outside any `_target_` node, by dotted path.
ROOT_SPECS: dict[str, Spec] = {
    "seed": Spec("int", min=0, nullable=True),
    "optimized_mode": Spec("str", choices=("min", "max")),
    "optimized_metric": Spec("str", nullable=True),
    "trainer.max_epochs": Spec("int", min=-1, nullable=True),
    "trainer.max_steps": Spec("int", min=-1),
    "trainer.devices": ANY,
    "trainer.log_every_n_steps": INT_POS,
    "trainer.check_val_every_n_epoch": Spec("int", min=1, nullable=True),
    "trainer.precision": Spec("str", choices=("32-true", "32", "64-true", "16-mixed",
                                              "bf16-mixed", "16-true", "bf16-true")),
}
# optimiser partials: lr and friends must be positive
OPTIM_SPECS: dict[str, Spec] = {"lr": FLOAT_POS, "weight_decay": Spec("float", min=0)}


def near_miss(name: str, options: list[str]) -> str:
    """'did you mean `x`?' for a close match, else ''."""
    match = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return f"Did you mean `{match[0]}`?" if match else ""


def _walk(node: Any, path: str):
    """Yield (dotted path, mapping) for every mapping in the config tree."""
    if isinstance(node, Mapping):
        yield path, node
        for key, child in node.items():
            yield from _walk(child, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _walk(child, f"{path}[{i}]")


def _check_target_node(path: str, node: Mapping) -> None:
    schema = TARGET_SCHEMAS.get(node.get("_target_", ""))
    if schema is None:
        return
    for key, value in node.items():
        if str(key).startswith("_"):
            continue
        spec = schema.get(key)
        if spec is None:
            hint = near_miss(str(key), list(schema))
            raise ConfigError(
                f"{path}.{key}", value, "one of the keys " + ", ".join(sorted(schema)),
                hint or f"`{node['_target_']}` takes no `{key}`.",
            )
        if not spec.accepts(value):
            raise ConfigError(f"{path}.{key}", value, spec.describe())


def _lookup(cfg: Mapping, dotted: str) -> tuple[bool, Any]:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def validate(cfg: Mapping) -> None:
    """Raise `ConfigError` for the first invalid value in a resolved, plain-dict config."""
    for dotted, spec in ROOT_SPECS.items():
        found, value = _lookup(cfg, dotted)
        if found and not spec.accepts(value):
            raise ConfigError(dotted, value, spec.describe())
    for path, node in _walk(cfg, ""):
        if "_target_" in node:
            _check_target_node(path, node)
        if node.get("_partial_") and str(node.get("_target_", "")).startswith("torch.optim."):
            for key, spec in OPTIM_SPECS.items():
                if key in node and not spec.accepts(node[key]):
                    raise ConfigError(f"{path}.{key}", node[key], spec.describe())
