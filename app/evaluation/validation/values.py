"""Argument checks and JSON-safe values shared by the validation modules (pure)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from app.strategies import ParameterSpace


def number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def integer(value: Any, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def json_safe(value: Any) -> Any:
    """Return ``value`` as a plain JSON-safe Python value (numpy scalars unwrapped, non-finite floats -> 0.0)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return 0.0
    return value


def iso(stamp: pd.Timestamp) -> str:
    return pd.Timestamp(stamp).isoformat()


def params_dict(table: pd.DataFrame, position: int, *, space: ParameterSpace) -> dict[str, Any]:
    """Return the parameters of the table's row at ``position`` in the space's canonical form.

    Read column by column: a row Series of an all-numeric table is upcast to
    float, and an int parameter (e.g. a period) would come back as 48.0.
    """
    return space.validate({name: json_safe(table[name].iloc[position]) for name in space.names})
