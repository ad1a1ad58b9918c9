"""What a config value may be (`Spec`): the one small type system the torch-free schema
(config/schema.py) and the key declarations (config/keys.py) share."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Spec:
    """What a config value may be. `kind`: int, float, bool, str, list, dict, path, any."""

    kind: str = "any"
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] = ()
    nullable: bool = False
    item: Spec | None = None  # for lists: what each element may be
    single: bool = False  # for lists: one item alone stands for a one-element list (as_list)

    def describe(self) -> str:
        if self.choices:
            text = " | ".join(str(c) for c in self.choices)
        else:
            text = {"float": "a number", "int": "an integer", "bool": "true or false",
                    "str": "a string", "list": "a list", "dict": "a mapping",
                    "path": "a path", "file": "an existing file",
                    "name": "a name (text or a number, no `/`)",
                    "batches": "an integer count ≥ 0 or a fraction in [0.0, 1.0]",
                    "flag_or_count": "true, false or a number of batches ≥ 0",
                    "bool_or_auto": "true, false or auto",
                    }.get(self.kind, "any value")
            if self.min is not None and self.max is not None:
                text += f" in [{self.min}, {self.max}]"
            elif self.min is not None:
                text += f" ≥ {self.min}"
            elif self.max is not None:
                text += f" ≤ {self.max}"
        if self.item:
            text += f" of {self.item.describe()}"
        if self.single:
            text += ", or one item alone"
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
        if self.kind in ("str", "path", "file") and not isinstance(value, str):
            return False
        if self.kind == "file" and not Path(value).is_file():
            return False
        if self.kind == "name":  # a directory or run name: Hydra reads `run_id=7` as 7
            return (isinstance(value, str | int) and not isinstance(value, bool)
                    and "/" not in str(value))
        if self.kind == "float" and not math.isfinite(value):
            return False
        if self.kind == "bool_or_auto":
            return isinstance(value, bool) or value == "auto"
        if self.kind == "flag_or_count":  # Lightning's fast_dev_run: a bool or a count ≥ 0
            return isinstance(value, bool) or (isinstance(value, int) and value >= 0)
        if self.kind == "batches":  # Lightning's limit_*: a count ≥ 0 or a fraction in [0, 1]
            if isinstance(value, bool) or not isinstance(value, int | float):
                return False
            return value >= 0 and (isinstance(value, int) or value <= 1)
        if self.kind == "list" and self.single:
            value = as_list(value)
        if self.kind == "list" and not isinstance(value, list | tuple):
            return False
        if self.kind == "list" and self.item and not all(self.item.accepts(v) for v in value):
            return False
        if self.kind == "dict" and not isinstance(value, Mapping):
            return False
        if self.choices and value not in self.choices:
            return False
        if self.min is not None and value < self.min:
            return False
        return self.max is None or value <= self.max


def as_list(value: Any) -> list | None:
    """A list value as a list, one item alone as a one-element list (`datasets=mnist` means
    [mnist]; a string is one name, never its letters); null stays null."""
    if value is None:
        return None
    if isinstance(value, Sequence) and not isinstance(value, str):  # a list, a ListConfig
        return list(value)
    return [value]
