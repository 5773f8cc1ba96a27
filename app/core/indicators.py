"""Causal technical indicators, each declared once: EMA, RSI, MACD, Wilder ATR and ADX, swings (pure).

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

ATR (``wilder_atr``, Wilder, period 14)
    True range ``TR[0] = high[0] - low[0]`` (no previous close), then
    ``max(high - low, |high - prev close|, |low - prev close|)``.
    ``ATR[period - 1]`` is the mean of ``TR[0..period-1]``; after that
    ``ATR[t] = (ATR[t-1] (period - 1) + TR[t]) / period``. NaN before bar
    ``period - 1`` (bar 13).

ADX (``adx``, Wilder, period 14)
    +DM / -DM and TR smoothed by Wilder's running sums (the first smoothed
    values are the sums of the first ``period`` moves), DX = 100 |+DI - -DI| /
    (+DI + -DI) (0 when both are 0), ADX the mean of the first ``period`` DX
    values at bar ``2 period - 1`` and Wilder-smoothed after. NaN before.

Swings (``swing_highs``, ``swing_lows``, ``swing_masks``)
    docs/design-rules.md#patterns: a swing high at bar ``j`` with length ``L`` is ``high[j]``
    strictly greater than the ``L`` highs before it and the ``L`` highs after it
    (a swing low mirrors it with strictly lower lows). It is only known at the
    close of bar ``j + L`` (its confirmation bar), so a bar ``j < L`` or
    ``j > n - 1 - L`` is never a swing in an ``n``-bar array. Every consumer must
    use a swing only from its confirmation bar on; that is what keeps detection
    causal (prefix invariant).

Last swing levels (``last_swing_levels``)
    The price of the most recent swing low (high) CONFIRMED at or before each
    bar, using the swings above (length ``DEFAULT_SWING_LENGTH``): bar ``t``
    sees pivots ``j <= t - length`` only. NaN until the first confirmation.
"""

from __future__ import annotations

import numpy as np

from app.core.jit import njit

RSI_PERIOD = 14
ATR_PERIOD = 14
ADX_PERIOD = 14
DEFAULT_SWING_LENGTH = 5


def as_float_array(values: np.ndarray) -> np.ndarray:
    """Return ``values`` as a C-contiguous float64 array (no copy when already one)."""
    return np.ascontiguousarray(np.asarray(values, dtype=np.float64))


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


@njit(cache=True)
def _wilder_atr(high, low, close, period):  # pragma: no cover - numba
    n = close.shape[0]
    atr = np.full(n, np.nan)
    if n < period:
        return atr
    total = 0.0
    for t in range(period):
        tr = high[t] - low[t]
        if t > 0:
            tr = max(tr, abs(high[t] - close[t - 1]), abs(low[t] - close[t - 1]))
        total += tr
    value = total / period
    atr[period - 1] = value
    for t in range(period, n):
        tr = max(high[t] - low[t], abs(high[t] - close[t - 1]), abs(low[t] - close[t - 1]))
        value = (value * (period - 1) + tr) / period
        atr[t] = value
    return atr


def wilder_atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = ATR_PERIOD) -> np.ndarray:
    """Return Wilder's ATR, causal; NaN before bar ``period - 1``.

    True range TR[0] = high[0] - low[0] (no previous close), then
    max(high - low, |high - prev close|, |low - prev close|). ATR[period-1] is
    the mean of TR[0..period-1]; after that ATR[t] = (ATR[t-1] x (period-1) + TR[t]) / period.
    """
    if int(period) < 1:
        raise ValueError(f"period must be >= 1, got {period}")
    return _wilder_atr(as_float_array(high), as_float_array(low), as_float_array(close), int(period))


@njit(cache=True)
def _adx(high, low, close, period):  # pragma: no cover - numba
    n = close.shape[0]
    out = np.full(n, np.nan)
    if n < 2 * period:
        return out
    tr_s = plus_s = minus_s = 0.0
    dx_sum = 0.0
    adx = 0.0
    for t in range(1, n):
        up, down = high[t] - high[t - 1], low[t - 1] - low[t]
        plus = up if up > down and up > 0 else 0.0
        minus = down if down > up and down > 0 else 0.0
        tr = max(high[t] - low[t], abs(high[t] - close[t - 1]), abs(low[t] - close[t - 1]))
        if t <= period:  # the first smoothed values are sums of the first ``period`` moves
            tr_s += tr
            plus_s += plus
            minus_s += minus
            if t < period:
                continue
        else:
            tr_s = tr_s - tr_s / period + tr
            plus_s = plus_s - plus_s / period + plus
            minus_s = minus_s - minus_s / period + minus
        di_sum = plus_s + minus_s
        dx = 0.0 if di_sum == 0 or tr_s == 0 else 100.0 * abs(plus_s - minus_s) / di_sum
        if t < 2 * period - 1:
            dx_sum += dx
        elif t == 2 * period - 1:
            adx = (dx_sum + dx) / period
            out[t] = adx
        else:
            adx = (adx * (period - 1) + dx) / period
            out[t] = adx
    return out


def adx(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = ADX_PERIOD) -> np.ndarray:
    """Wilder's ADX, causal; NaN before bar ``2 x period - 1``."""
    as_float = [np.ascontiguousarray(x, dtype=np.float64) for x in (high, low, close)]
    return _adx(*as_float, int(period))


@njit(cache=True)
def _swing_mask(values, length, sign):  # pragma: no cover - numba
    n = values.shape[0]
    mask = np.zeros(n, np.bool_)
    for j in range(length, n - length):
        v = sign * values[j]
        ok = True
        for k in range(j - length, j + length + 1):
            if k != j and not (v > sign * values[k]):
                ok = False
                break
        mask[j] = ok
    return mask


def swing_highs(high: np.ndarray, length: int) -> np.ndarray:
    """Return a bool mask of swing-high pivot bars (known only at bar ``j + length``)."""
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    return _swing_mask(np.ascontiguousarray(np.asarray(high, dtype=np.float64)), int(length), 1.0)


def swing_lows(low: np.ndarray, length: int) -> np.ndarray:
    """Return a bool mask of swing-low pivot bars (known only at bar ``j + length``)."""
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    return _swing_mask(np.ascontiguousarray(np.asarray(low, dtype=np.float64)), int(length), -1.0)


def confirmed_at(pivots: np.ndarray, length: int) -> np.ndarray:
    """Return the confirmation bar (``pivot + length``) of each pivot position."""
    return np.asarray(pivots, dtype=np.int64) + int(length)


def swing_masks(high: np.ndarray, low: np.ndarray, swing_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the (swing-high, swing-low) pivot masks that ``nearest_swing_levels`` reads."""
    return swing_highs(as_float_array(high), swing_length), swing_lows(as_float_array(low), swing_length)


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
