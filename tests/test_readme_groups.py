"""The README's config-group table against conf/: every option a group has is listed, and
nothing listed is missing (issue 25: `data=ring8`, `callbacks=checkpoint` were absent).
Rules out a table that drifts from the configs it documents."""

from __future__ import annotations

import re
from pathlib import Path

from genlab.config import config_dir

README = Path(__file__).resolve().parents[1] / "README.md"


def _table() -> dict[str, set[str]]:
    text = README.read_text()
    section = text[text.index("## Config groups"):text.index("Top-level keys")]
    groups: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        options = set(re.findall(r"`([^`]+)`", cells[1]))
        for group in re.findall(r"`([^`]+)`", cells[0]):
            groups[group] = options
    return groups


def test_every_group_lists_exactly_its_options() -> None:
    table = _table()
    checked = 0
    for group, listed in table.items():
        folder = config_dir() / group
        if group in ("experiment", "local") or not folder.is_dir():
            continue  # presets (listed in experiments/README.md); untracked local settings
        options = {p.stem for p in folder.glob("*.yaml")}
        assert listed == options, (group, sorted(listed ^ options))
        checked += 1
    assert checked >= 12
    documented = set(table) | {"experiment", "hydra", "local", "app"}
    groups = {p.name for p in config_dir().iterdir() if p.is_dir()}
    assert groups <= documented, sorted(groups - documented)
