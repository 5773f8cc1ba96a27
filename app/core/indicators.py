"""Causal technical indicators of the indicator strategies (pure: numpy + numba, no Flask, no SQLAlchemy).

Every value at bar ``t`` uses bars ``0..t`` only, so an indicator computed on a
prefix of the candles equals the full-history indicator on that prefix.

EMA (``ema``)
    ``alpha = 2 / (period + 1)``; seeded with the first value
    (``ema[0] = x[0]``), then ``ema[t] = alpha x[t] + (1 - alpha) ema[t-1]``:
    exactly pandas ``Series.ewm(span=period, adjust=False).mean()``. The
    recursion runs from bar 0 so every value is defined, but an EMA is only
    *trusted* from bar ``period - 1`` on (it has absorbed ``period`` bars;
    this is where the ``ta`` library starts reporting it, ``min_periods =
    period``): the strategies allow no signal before that (``ema_cross``
    warm-up).

RSI (``rsi``, Wilder, period 14)
    Changes ``d[t] = close[t] - close[t-1]``; gains ``max(d, 0)``, losses
    ``max(-d, 0)``. The first averages (bar ``period``) are the simple means
    of the first ``period`` changes (bars 1..period, Wilder's seeding), then
    ``avg[t] = (avg[t-1] (period - 1) + x[t]) / period`` (an EMA with alpha
    ``1 / period``). ``RSI = 100 - 100 / (1 + avg_gain / avg_loss)``; 100 when
    ``avg_loss`` is 0 (50 when both are 0: no movement at all). NaN before bar
    ``period``. (The ``ta`` library seeds the same recursion with 0 at bar 0
    instead of the simple mean; the two agree to 1e-9 after a few hundred bars
    because the seed's weight decays as ``(13/14)^t``.)

MACD (``macd``)
    ``line = EMA(close, fast) - EMA(close, slow)`` (both EMAs as above),
    defined from bar ``slow - 1`` (where the slow EMA is trusted).
    ``signal = EMA(line, signal)`` started at that bar: seeded with
    ``line[slow - 1]`` (NaN before; this equals pandas ``ewm(adjust=False)``
    of the line with its untrusted head masked, and the ``ta`` library), and
    trusted from bar ``slow + signal - 2``. ``histogram = line - signal``.

ATR: Wilder's ATR(14) from ``app.core.levels.wilder_atr`` (NaN
before bar 13).

Swings (``last_swing_levels``): the price of the most recent swing low
(high) CONFIRMED at or before each bar, using DESIGN section 4's swings
(``app.core.patterns.swings``, length ``DEFAULT_SWING_LENGTH``): a pivot
at ``j`` is known only at the close of bar ``j + length``, so bar ``t`` sees
pivots ``j <= t - length`` only. NaN until the first confirmation.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from app.core.levels import ATR_PERIOD, wilder_atr
from app.core.patterns.base import DEFAULT_SWING_LENGTH, as_float_array
from app.core.patterns.swings import swing_highs, swing_lows

RSI_PERIOD = 14

__all__ = [
    "ATR_PERIOD",
    "RSI_PERIOD",
    "atr",
    "ema",
    "last_swing_levels",
    "macd",
    "rsi",
]


def _check_period(period: int, name: str = "period") -> int:
    if isinstance(period, bool) or int(period) != period or int(period) < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {period!r}")
    return int(period)


@njit(cache=True)
def _ema(values, start, period):  # pragma: no cover - numba
    n = values.shape[0]
    out = np.full(n, np.nan)
    if start >= n:
        return out
    alpha = 2.0 / (period + 1.0)
    keep = 1.0 - alpha
    value = values[start]
    out[start] = value
    for t in range(start + 1, n):
        value = alpha * values[t] + keep * value
        out[t] = value
    return out


def ema(values: np.ndarray, period: int, *, start: int = 0) -> np.ndarray:
    """Return the EMA of ``values`` seeded with ``values[start]`` (pandas ``ewm(span=period, adjust=False)``).

    NaN before ``start`` (the MACD signal line starts where the line is trusted).
    """
    if isinstance(start, bool) or int(start) != start or start < 0:
        raise ValueError(f"start must be an integer >= 0, got {start!r}")
    return _ema(as_float_array(values), int(start), _check_period(period))


@njit(cache=True)
def _rsi(close, period):  # pragma: no cover - numba
    n = close.shape[0]
    out = np.full(n, np.nan)
    if n <= period:
        return out
    gain = 0.0
    loss = 0.0
    for t in range(1, period + 1):
        d = close[t] - close[t - 1]
        if d > 0:
            gain += d
        else:
            loss -= d
    gain /= period
    loss /= period
    for t in range(period, n):
        if t > period:
            d = close[t] - close[t - 1]
            up = d if d > 0 else 0.0
            down = -d if d < 0 else 0.0
            gain = (gain * (period - 1) + up) / period
            loss = (loss * (period - 1) + down) / period
        if loss == 0.0:
            out[t] = 100.0 if gain > 0.0 else 50.0
        else:
            out[t] = 100.0 - 100.0 / (1.0 + gain / loss)
    return out


def rsi(close: np.ndarray, period: int = RSI_PERIOD) -> np.ndarray:
    """Return Wilder's RSI (NaN before bar ``period``; see the module docstring)."""
    return _rsi(as_float_array(close), _check_period(period))


def macd(close: np.ndarray, *, fast: int, slow: int, signal: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (line, signal line, histogram); NaN where not defined (module docstring)."""
    fast, slow, signal = _check_period(fast, "fast"), _check_period(slow, "slow"), _check_period(signal, "signal")
    values = as_float_array(close)
    line = _ema(values, 0, fast) - _ema(values, 0, slow)
    line[: slow - 1] = np.nan
    signal_line = ema(line, signal, start=slow - 1)
    return line, signal_line, line - signal_line


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = ATR_PERIOD) -> np.ndarray:
    """Return Wilder's ATR (``app.core.levels.wilder_atr``)."""
    return wilder_atr(high, low, close, period)


@njit(cache=True)
def _last_confirmed(values, pivots, length):  # pragma: no cover - numba
    n = values.shape[0]
    out = np.full(n, np.nan)
    current = np.nan
    for t in range(n):
        j = t - length
        if j >= 0 and pivots[j]:
            current = values[j]
        out[t] = current
    return out


def last_swing_levels(
    high: np.ndarray, low: np.ndarray, length: int = DEFAULT_SWING_LENGTH
) -> tuple[np.ndarray, np.ndarray]:
    """Return (last swing low, last swing high) confirmed at or before each bar (NaN before the first)."""
    length = _check_period(length, "length")
    high, low = as_float_array(high), as_float_array(low)
    return (
        _last_confirmed(low, swing_lows(low, length), length),
        _last_confirmed(high, swing_highs(high, length), length),
    )
