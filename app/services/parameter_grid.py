"""Parameter grids: the presets, validation and expansion (pure: no Flask, no SQLAlchemy).

A grid maps each of the six backtest parameters to the list of values to try;
its expansion is the Cartesian product, one dict per combination, in a stable
order (the order of ``PARAMETER_NAMES``, then of each value list).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from app.services.trade_levels import ENTRY_METHODS, TP_METHODS

PARAMETER_NAMES = ("rr_target", "sl_buffer_pct", "min_zone_pct", "tp_method", "entry_method", "use_overlap")

# What production trades with until tuned parameters replace it (DESIGN section 4 and 5 defaults).
PRODUCTION_DEFAULTS: dict[str, Any] = {
    "rr_target": 2.0,
    "sl_buffer_pct": 10.0,
    "min_zone_pct": 0.15,
    "tp_method": "fixed_rr",
    "entry_method": "zone_edge",
    "use_overlap": True,
}

# 5 x 4 x 4 x 3 x 2 x 2 = 960 combinations per slice (the seed design's grid).
DEFAULT_PARAMETER_GRID: dict[str, list[Any]] = {
    "rr_target": [1.5, 2.0, 2.5, 3.0, 3.5],
    "sl_buffer_pct": [5, 10, 15, 20],
    "min_zone_pct": [0.1, 0.15, 0.2, 0.25],
    "tp_method": ["fixed_rr", "swing_target", "atr_multiple"],
    "entry_method": ["zone_edge", "zone_mid"],
    "use_overlap": [True, False],
}

# 3 x 2 = 6 combinations: a fast smoke test of a whole scope.
QUICK_PARAMETER_GRID: dict[str, list[Any]] = {
    "rr_target": [2.0, 2.5, 3.0],
    "sl_buffer_pct": [10, 15],
    "min_zone_pct": [0.15],
    "tp_method": ["fixed_rr"],
    "entry_method": ["zone_edge"],
    "use_overlap": [True],
}

PRESETS = {"default": DEFAULT_PARAMETER_GRID, "quick": QUICK_PARAMETER_GRID}

# Sane ranges for numeric parameters: (low, high, low inclusive).
NUMERIC_RANGES = {
    "rr_target": (0.0, 20.0, False),
    "sl_buffer_pct": (0.0, 200.0, True),
    "min_zone_pct": (0.0, 10.0, True),
}
CHOICES = {"tp_method": TP_METHODS, "entry_method": ENTRY_METHODS}


class GridError(ValueError):
    """A parameter grid is malformed; the message names the key and the value."""


def validate_grid(grid: dict[str, Any], *, max_combinations: int | None = None) -> dict[str, list[Any]]:
    """Return ``grid`` normalised (every key present, floats as floats, no duplicates) or raise GridError.

    Missing keys are filled with the production default, so a custom grid may
    name only the parameters it varies.
    """
    if not isinstance(grid, dict) or not grid:
        raise GridError("parameter grid must be a non-empty mapping of parameter name to list of values")
    unknown = sorted(set(grid) - set(PARAMETER_NAMES))
    if unknown:
        raise GridError(f"unknown grid parameter(s): {', '.join(unknown)} (known: {', '.join(PARAMETER_NAMES)})")
    normalised = {}
    for name in PARAMETER_NAMES:
        values = grid.get(name, [PRODUCTION_DEFAULTS[name]])
        if not isinstance(values, list | tuple) or not values:
            raise GridError(f"grid parameter '{name}' must be a non-empty list")
        checked = [_check_value(name, value) for value in values]
        if len(set(checked)) != len(checked):
            raise GridError(f"grid parameter '{name}' lists a value twice: {values}")
        normalised[name] = checked
    size = grid_size(normalised)
    if max_combinations is not None and size > max_combinations:
        raise GridError(f"grid has {size} combinations, more than the maximum of {max_combinations} per slice")
    return normalised


def _check_value(name: str, value: Any) -> Any:
    if name == "use_overlap":
        if not isinstance(value, bool):
            raise GridError(f"grid parameter 'use_overlap' takes true/false, not {value!r}")
        return value
    if name in CHOICES:
        if value not in CHOICES[name]:
            raise GridError(f"grid parameter '{name}' has unknown method {value!r} (known: {', '.join(CHOICES[name])})")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise GridError(f"grid parameter '{name}' takes numbers, not {value!r}")
    low, high, inclusive = NUMERIC_RANGES[name]
    if value > high or value < low or (value == low and not inclusive):
        bound = f"{'[' if inclusive else '('}{low}, {high}]"
        raise GridError(f"grid parameter '{name}' value {value} is outside {bound}")
    return float(value)


def grid_size(grid: dict[str, list[Any]]) -> int:
    """Return how many combinations ``grid`` expands to."""
    return math.prod(len(grid[name]) for name in PARAMETER_NAMES)


def expand_grid(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Return every combination of ``grid`` as a dict, in a stable order."""
    return [
        dict(zip(PARAMETER_NAMES, values, strict=True))
        for values in itertools.product(*(grid[n] for n in PARAMETER_NAMES))
    ]
