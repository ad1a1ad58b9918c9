"""Hydra sweep syntax → Optuna distributions, the syntax of hydra-optuna-sweeper:
`choice(2, 4, 8)` or `2,4,8` (categorical), `range(1, 4)` (integers 1..3),
`interval(0.5, 2.0)` (uniform float), `tag(log, interval(1e-4, 1e-2))` (log-uniform);
a plain `key=value` is passed to every trial unchanged."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep

if TYPE_CHECKING:  # Hydra imports every plugin module at start-up: optuna only when used
    from optuna.distributions import BaseDistribution


def parse(lines: Iterable[str]) -> tuple[dict[str, BaseDistribution], list[str]]:
    """`key=sweep` lines → ({key: distribution}, [fixed override lines]); later lines win."""
    space: dict[str, BaseDistribution] = {}
    fixed: dict[str, str] = {}
    for override in OverridesParser.create().parse_overrides(list(lines)):
        key = override.get_key_element()
        space.pop(key, None)
        fixed.pop(key, None)
        if override.is_sweep_override():
            space[key] = distribution(override)
        else:
            fixed[key] = override.input_line
    return space, list(fixed.values())


def distribution(override: Override) -> BaseDistribution:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    value = override.value()
    if isinstance(value, ChoiceSweep):
        return CategoricalDistribution(list(value.list))
    if isinstance(value, RangeSweep):
        start, stop, step = value.start, value.stop, value.step
        if all(isinstance(v, int) for v in (start, stop, step)) and step > 0:
            return IntDistribution(start, start + step * ((stop - start - 1) // step), step=step)
        return CategoricalDistribution(list(override.sweep_iterator()))
    if isinstance(value, IntervalSweep):
        log = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log)
        return FloatDistribution(float(value.start), float(value.end), log=log)
    raise ValueError(f"`{override.input_line}`: not a sweep Optuna can sample "
                     "(use choice, range, interval or tag(log, interval))")
