"""A configurable class declares each config key once, in its own signature:

    latent_dim: Annotated[int, Key("size of the latent z", min=1)] = 16,

name, type, default, allowed values and doc line in one place. From it:

- the schema (config/schema.py) validates the key before torch is imported;
- Hydra composes the class's defaults: `register_nodes` stores one node per declaring
  class in the `keys` group (`- /keys/genlab.models.vae.VAE@_here_` in a YAML's defaults
  list), so a preset's YAML sets only what it changes, and every key is overridable
  without `+`;
- the class checks the same rules when built directly (a notebook): `check`;
- `genlab-keys [TARGET ...]` prints each class's key table (cli/keys.py).

Torch-free: the signature is read from the class's source with `ast`, never imported.
Only parameters annotated `Annotated[T, Key(...)]` are config keys; the others (the data's
shape, num_classes) come from the code that builds the class. The type T gives the kind:
int, float, bool, str, dict, list[X] / Sequence[X] / tuple[X, ...] (Key's min, max and
choices then apply to each item), `X | None` allows null. Names in a Key's arguments or in
a default resolve to genlab/config/choices.py, `math`, or the module's own constants.
tests/test_config_keys.py checks that this reading agrees with Python's own.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genlab.config.spec import Spec

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # src/genlab
NO_DEFAULT = object()  # a required key (its group, e.g. model/encoder, gives it)
GROUP = "keys"  # the Hydra config group of the declared classes' nodes


class Key:
    """A config key's doc line and allowed values, as `Annotated` metadata."""

    def __init__(self, doc: str, *, min: float | None = None, max: float | None = None,
                 choices: tuple[Any, ...] = (), kind: str | None = None) -> None:
        self.doc, self.min, self.max, self.choices, self.kind = doc, min, max, choices, kind

    def __repr__(self) -> str:
        return f"Key({self.doc!r})"


@dataclass(frozen=True)
class Declared:
    """One declared key: what it may be, its default (NO_DEFAULT: required), its doc."""

    spec: Spec
    default: Any
    doc: str


# --- reading a class's signature from its source -------------------------------------------
def source_of(module: str) -> Path | None:
    """genlab.models.vae → src/genlab/models/vae.py (or …/__init__.py for a package)."""
    parts = module.split(".")
    if parts[0] != "genlab":
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


@functools.cache
def _module(module: str) -> tuple[ast.Module, dict[str, Any]] | None:
    """The parsed module and the namespace its declarations resolve names in."""
    path = source_of(module)
    if path is None:
        return None
    tree = ast.parse(path.read_text(), str(path))
    from genlab.config import choices

    namespace: dict[str, Any] = {"math": math, "Key": Key,
                                 **{k: v for k, v in vars(choices).items() if k.isupper()}}
    for node in tree.body:  # the module's constants (MIN_STD = 1 / (255 * ...)), in order
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id.isupper()):
            # not a plain constant (a call into torch): declarations may not use it
            with contextlib.suppress(Exception):
                namespace[node.targets[0].id] = _evaluate(node.value, namespace)
    return tree, namespace


def _evaluate(node: ast.expr, namespace: dict[str, Any]) -> Any:
    # genlab's own source, parsed: names resolve only in `namespace` and a few builtins
    return eval(compile(ast.Expression(node), "<declaration>", "eval"),  # noqa: S307
                {"__builtins__": SAFE_BUILTINS}, namespace)


SAFE_BUILTINS = {"tuple": tuple, "sorted": sorted, "len": len, "min": min, "max": max}


def _class_node(module: str, name: str) -> tuple[ast.ClassDef, dict[str, Any], str] | None:
    """The class's definition, its namespace and the module that defines it, following
    `from genlab.x import Name` re-exports."""
    parsed = _module(module)
    if parsed is None:
        return None
    tree, namespace = parsed
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node, namespace, module
    imported = _imported(tree, name)
    return _class_node(imported, name) if imported else None


def _imported(tree: ast.Module, name: str) -> str | None:
    """The genlab module `name` is imported from at the top of `tree`, if it is."""
    for node in tree.body:
        if (isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                and node.module.startswith("genlab.")
                and any(alias.name == name and alias.asname in (None, name)
                        for alias in node.names)):
            return node.module
    return None


def _bases(cls: ast.ClassDef, module: str) -> list[str]:
    """The genlab base classes of `cls` as `_target_` paths (a library base: none)."""
    tree = _module(module)[0]
    found = []
    for base in cls.bases:
        if not isinstance(base, ast.Name):
            continue
        if any(isinstance(n, ast.ClassDef) and n.name == base.id for n in tree.body):
            found.append(f"{module}.{base.id}")
        elif (source := _imported(tree, base.id)) is not None:
            found.append(f"{source}.{base.id}")
    return found


@functools.cache
def declared(target: str) -> dict[str, Declared]:
    """The keys `target` (a `_target_` path) declares, in signature order; {} for a class
    that declares none (its schema, if any, is config/schema.py's table)."""
    module, _, name = target.rpartition(".")
    found = _class_node(module, name)
    if found is None:
        return {}
    cls, namespace, defined_in = found
    init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"),
                None)
    if init is None:
        return {}
    args = init.args
    positional = [*args.posonlyargs, *args.args]
    defaults: dict[str, ast.expr | None] = {a.arg: None for a in positional}
    defaults.update(zip([a.arg for a in positional[len(positional) - len(args.defaults):]],
                        args.defaults, strict=True))
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)})
    keys: dict[str, Declared] = {}
    for arg in [*positional, *args.kwonlyargs]:
        key = _annotated_key(arg.annotation, namespace)
        if key is None:
            continue
        kind, nullable, item = _kind(key[0])
        meta: Key = key[1]
        default_node = defaults.get(arg.arg)
        default = NO_DEFAULT if default_node is None else _evaluate(default_node, namespace)
        keys[arg.arg] = Declared(_spec(meta, kind, nullable, item), default, meta.doc)
    if args.kwarg is not None:  # **kwargs handed to a base class: its keys too
        for base in _bases(cls, defined_in):
            for name, key in declared(base).items():
                keys.setdefault(name, key)
    return keys


def _annotated_key(annotation: ast.expr | None,
                   namespace: dict[str, Any]) -> tuple[ast.expr, Key] | None:
    """`Annotated[T, Key(...)]` → (T's node, the Key)."""
    if not (isinstance(annotation, ast.Subscript) and isinstance(annotation.value, ast.Name)
            and annotation.value.id == "Annotated" and isinstance(annotation.slice, ast.Tuple)):
        return None
    kind, *metadata = annotation.slice.elts
    for node in metadata:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id == "Key":
            return kind, _evaluate(node, namespace)
    return None


KINDS = {"int": "int", "float": "float", "bool": "bool", "str": "str", "dict": "dict",
         "Mapping": "dict", "list": "list", "Sequence": "list", "tuple": "list", "Any": "any",
         "Path": "path"}


def _kind(node: ast.expr) -> tuple[str, bool, str | None]:
    """A type annotation's node → (kind, nullable, the kind of a list's items)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        sides = [node.left, node.right]
        rest = [s for s in sides if not (isinstance(s, ast.Constant) and s.value is None)]
        if len(rest) == 1:
            kind, _, item = _kind(rest[0])
            return kind, True, item
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        kind = KINDS.get(node.value.id, "any")
        if kind == "list":
            first = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) else node.slice
            return "list", False, _kind(first)[0]
        return kind, False, None
    if isinstance(node, ast.Name):
        return KINDS.get(node.id, "any"), False, None
    return "any", False, None


def _spec(key: Key, kind: str, nullable: bool, item: str | None) -> Spec:
    kind = key.kind or kind
    if kind == "list":
        inner = Spec(item or "any", min=key.min, max=key.max, choices=tuple(key.choices))
        return Spec("list", item=inner, nullable=nullable)
    return Spec(kind, min=key.min, max=key.max, choices=tuple(key.choices), nullable=nullable)


@functools.lru_cache(maxsize=1)
def declaring_classes() -> dict[str, dict[str, Declared]]:
    """Every genlab class that declares keys: its `_target_` path → its keys. Read from the
    sources under src/genlab (models, nets, data, callbacks, metrics)."""
    found: dict[str, dict[str, Declared]] = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        text = path.read_text()
        if "Key(" not in text or path.name == "keys.py":
            continue
        module = ".".join(("genlab", *path.relative_to(PACKAGE_DIR).with_suffix("").parts))
        module = module.removesuffix(".__init__")
        for node in ast.parse(text).body:
            if isinstance(node, ast.ClassDef) and (keys := declared(f"{module}.{node.name}")):
                found[f"{module}.{node.name}"] = keys
    return found


def defaults_node(target: str) -> dict[str, Any]:
    """{_target_, every key with a default} of a declaring class: its Hydra node."""
    return {"_target_": target, **{name: d.default for name, d in declared(target).items()
                                   if d.default is not NO_DEFAULT}}


def register_nodes() -> None:
    """Store each declaring class's defaults as `keys/<_target_>` in Hydra's ConfigStore,
    under its public path (genlab.models.gan.GAN, re-exported from …gan.module) too."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for target in {*declaring_classes(), *PUBLIC_PATHS}:
        store.store(group=GROUP, name=target, node=defaults_node(target))


# classes whose `_target_` is a re-export of the module that defines them
PUBLIC_PATHS = ("genlab.models.gan.GAN",)


# --- at run time: the class checks its own arguments ----------------------------------------
def check(target: str, values: Mapping[str, Any]) -> None:
    """Raise ParameterError for the first declared key of `target` whose value in `values`
    (the class's `locals()`) the declaration refuses: the rules the schema applies before
    a run, applied when a notebook builds the class directly."""
    from genlab.errors import ParameterError

    for name, key in declared(target).items():
        if name in values and not key.spec.accepts(values[name]):
            raise ParameterError(name, values[name], key.spec.describe())


# --- the key tables ---------------------------------------------------------------------------
def table(target: str) -> str:
    """A Markdown table of `target`'s keys: key, default, allowed, doc."""
    import yaml

    rows = ["| key | default | allowed | what |", "|---|---|---|---|"]
    for name, key in declared(target).items():
        default = "(required)" if key.default is NO_DEFAULT else yaml.safe_dump(
            key.default, default_flow_style=True).strip().removesuffix("...").strip()
        cells = (f"`{name}`", f"`{default}`", key.spec.describe(), key.doc)
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)
