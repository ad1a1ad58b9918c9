"""`--help` of genlab-eval, -sample, -fetch and -apply: what the command does and each of its
own keys with its default and one line, generated from the command's primary config
(`conf/<command>.yaml`: its opening comment, the comment above or beside each key and each
defaults entry) and the composed config, so the help cannot drift from the keys the command
takes. Hydra's default help would list the training groups and describe none of them.

Used as `hydra.help.template: ${genlab_help:<command>}` (resolver in genlab/config/__init__.py).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

# `key: value  # comment` at the top level, and `  - group: option  # comment` in defaults
_KEY = re.compile(r"^([A-Za-z_]\w*):(.*)$")
_DEFAULT = re.compile(r"^\s*-\s*(?:optional\s+)?/?([\w/]+)(?:@(\w+))?:\s*(\w+)(.*)$")
NOT_KEYS = ("defaults", "hydra")
WIDTH = 88


def command_help(command: str, root: Mapping[str, Any], conf: Path) -> str:
    """The help text of `genlab-<command>` from `conf`/<command>.yaml and its composed
    config `root`. `$` is doubled: Hydra passes the template through string.Template."""
    lines = (conf / f"{command}.yaml").read_text().splitlines()
    groups, keys = described_groups(lines), described_keys(lines)
    for key, (group, text) in groups.items():  # a group's settings changed here (`trainer:`)
        groups[key] = (group, "; ".join(t for t in (text, keys.pop(key, "")) if t))
    plain = OmegaConf.to_container(root, resolve=False) if OmegaConf.is_config(root) else root
    choices = _choices(root)
    usage = (f"Usage: genlab-{command} key=value ... (`--cfg job` prints the composed "
             "config, `--hydra-help` Hydra's own flags)")
    out = [*textwrap.wrap(" ".join(_opening_comment(lines)), WIDTH), "",
           *textwrap.wrap(usage, WIDTH), "", "Keys (default):"]
    for key, text in keys.items():
        value = _shown(plain.get(key))
        out += _entry(f"{key}={value}", text + (" (required)" if value == "???" else ""))
    out += ["", "Groups (group=option):"]
    for key, (group, text) in groups.items():
        options = ", ".join(sorted(p.stem for p in (conf / group).glob("*.yaml")))
        chosen = choices.get(f"{group}@{key}", choices.get(group, ""))
        out += _entry(f"{key}={chosen}", f"{text} (one of: {options})")
    return "\n".join(out).replace("$", "$$") + "\n"


def _shown(value: Any) -> str:
    """A default as it is typed on the command line: `null`, `false`, `[mnist, cifar10]`."""
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix(
        "\n...").strip()


def described_keys(lines: list[str]) -> dict[str, str]:
    """Top-level key → its comment (the comment lines just above it and the one beside it,
    joined) for each plain key of a primary config (not the defaults list or `hydra`)."""
    keys: dict[str, str] = {}
    above: list[str] = []
    for line in lines:
        if line.startswith("#"):
            above.append(line.lstrip("# ").strip())
            continue
        match = _KEY.match(line)
        if match and match[1] not in NOT_KEYS:
            keys[match[1]] = " ".join([*above, _beside(match[2])]).strip()
        above = []
    return keys


def described_groups(lines: list[str]) -> dict[str, tuple[str, str]]:
    """Top-level key → (its group, the comment beside its defaults entry): `- trainer:
    default  # ...` gives trainer; `- /metrics/features@judge: classifier` gives judge.
    `optional` entries (machine-specific, absent by default) are not keys of the command."""
    groups: dict[str, tuple[str, str]] = {}
    for line in lines:
        match = _DEFAULT.match(line)
        if match and match[1] != "hydra" and "optional" not in line.split(":")[0]:
            groups[match[2] or match[1]] = (match[1], _beside(match[4]))
    return groups


def _opening_comment(lines: list[str]) -> list[str]:
    opening = []
    for line in lines:
        if not line.startswith("#"):
            break
        opening.append(line.lstrip("# ").strip())
    return opening


def _beside(rest: str) -> str:
    return rest.split(" #", 1)[1].strip() if " #" in rest else ""


def _entry(head: str, text: str) -> list[str]:
    """`  head   text`, the text wrapped beside a 26-column head (below a longer one)."""
    indent = " " * 28
    if len(head) > 25:
        return [f"  {head}", *textwrap.wrap(text, WIDTH, initial_indent=indent,
                                            subsequent_indent=indent, break_on_hyphens=False)]
    return textwrap.wrap(text, WIDTH, initial_indent=f"  {head:<25} ", subsequent_indent=indent,
                         break_on_hyphens=False) or [f"  {head}"]


def _choices(root: Mapping[str, Any]) -> dict[str, str]:
    try:
        return {str(k): str(v) for k, v in root["hydra"]["runtime"]["choices"].items()}
    except (KeyError, TypeError, AttributeError):
        return {}
