"""How every page prints a number: prices, percentages, R multiples, counts and durations (pure).

One rule per kind of number, so the same value reads the same on every page
(the Jinja filters in ``app/routes/filters.py`` are these functions):

- a **price** keeps ``PRICE_SIGNIFICANT`` significant digits, never fewer than
  two decimals (97,123.45, 612.30, 2.2552, 0.000012345), or, given the
  instrument's tick size, exactly the tick's decimals;
- a **percentage** has its unit and, when it is a change (profit, return), its
  sign: ``+12.30%``; a rate (win rate) has no sign: ``55.0%``;
- an **R multiple** has its sign and unit: ``+0.42 R``;
- a **duration** is at most two units: ``45 s``, ``12 min``, ``5 h 20 min``, ``3 d 4 h``.

A missing value (None, NaN) prints as ``MISSING``, never as ``nan`` or ``None``.
"""

from __future__ import annotations

import math
from decimal import Decimal

MISSING = "—"
PRICE_SIGNIFICANT = 5
DURATION_UNITS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def price_decimals(value: float, *, tick: float | None = None) -> int:
    """How many decimals a price of this size (or of this tick size) shows."""
    if tick:
        return max(0, -Decimal(str(tick)).normalize().as_tuple().exponent)
    if value == 0:
        return 2
    magnitude = math.floor(math.log10(abs(value)))
    return max(2, PRICE_SIGNIFICANT - 1 - magnitude)


def price(value: float | None, *, tick: float | None = None) -> str:
    """A price with the decimals that fit it (``price_decimals``) and thousands separators."""
    if _missing(value):
        return MISSING
    return f"{value:,.{price_decimals(value, tick=tick)}f}"


def pct(value: float | None, *, digits: int = 2, sign: bool = True) -> str:
    """A percentage with its unit; ``sign`` (the default) for changes: ``+1.25%``, ``-0.40%``."""
    if _missing(value):
        return MISSING
    return f"{value:{'+' if sign else ''},.{digits}f}%"


def rate(value: float | None, *, digits: int = 1) -> str:
    """A rate in percent without a sign (a win rate): ``55.0%``."""
    return pct(value, digits=digits, sign=False)


def r_multiple(value: float | None, *, digits: int = 2) -> str:
    """An R multiple (or expectancy in R) with sign and unit: ``+0.42 R``."""
    if _missing(value):
        return MISSING
    return f"{value:+.{digits}f} R"


def number(value: float | None, *, digits: int = 2) -> str:
    """A plain number (a ratio, a score) with thousands separators; integers print without decimals."""
    if _missing(value):
        return MISSING
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def duration(seconds: float | None) -> str:
    """A duration in its two largest units: ``45 s``, ``12 min``, ``5 h 20 min``, ``3 d 4 h``."""
    if _missing(seconds):
        return MISSING
    left = max(0, int(seconds))
    for i, (unit, size) in enumerate(DURATION_UNITS):
        if left < size and unit != "s":
            continue
        major, rest = divmod(left, size)
        text = f"{major} {unit}"
        if unit != "s":
            minor_unit, minor_size = DURATION_UNITS[i + 1]
            if rest // minor_size:
                text += f" {rest // minor_size} {minor_unit}"
        return text
    raise AssertionError("unreachable: the last unit is one second")


# How each run metric (``app.core.metrics.METRIC_NAMES`` and the ranking scores) prints, with a short label
# for table headers; a metric not named here prints as a plain number.
METRIC_FORMATS = {
    "total_profit_pct": ("Profit", lambda v: pct(v)),
    "win_rate": ("Win rate", lambda v: rate(v)),
    "max_drawdown": ("Max DD", lambda v: pct(v, digits=1, sign=False)),
    "expectancy_r": ("Exp. R", lambda v: r_multiple(v)),
    "avg_rr": ("Avg RR", lambda v: number(v)),
    "total_trades": ("Trades", lambda v: number(v)),
    "composite_score": ("Score", lambda v: number(v, digits=3)),
    "stability_score": ("Stability", lambda v: number(v, digits=3)),
    "sharpe_ratio": ("Sharpe", lambda v: number(v)),
    "sortino_ratio": ("Sortino", lambda v: number(v)),
    "profit_factor": ("PF", lambda v: number(v)),
    "avg_trade_duration": ("Avg hold", lambda v: duration(None if v is None else v * 3600)),
}


def metric(name: str, value: float | None) -> str:
    """A run metric by its name's rule (``METRIC_FORMATS``): ``+12.30%``, ``55.0%``, ``+0.42 R``, ``1.234``."""
    rule = METRIC_FORMATS.get(name)
    return rule[1](value) if rule else number(value)


def metric_label(name: str) -> str:
    """The short column header of a metric (its name when it has none)."""
    rule = METRIC_FORMATS.get(name)
    return rule[0] if rule else name
