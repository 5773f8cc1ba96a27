"""``macd``: trade the MACD line crossing its signal line, with optional strength, zero-line and RSI filters (pure).

Rule (all values at the close of candle ``t``; ``indicators.macd``: line =
EMA(fast) - EMA(slow), signal = EMA(signal) of the line, histogram = line -
signal; ATR = Wilder ATR(14); RSI = Wilder RSI(14))

- LONG when the line crosses above the signal line: ``hist[t-1] <= 0`` and
  ``hist[t] > 0``; SHORT when it crosses below: ``hist[t-1] >= 0`` and
  ``hist[t] < 0``;
- ``histogram_threshold``: the cross must open the histogram by at least
  that many ATRs, ``|hist[t]| / ATR[t] >= histogram_threshold`` (0 = off).
  Like ``ema_cross``'s confirmation, dividing by ATR makes the threshold mean
  the same on every pair and timeframe (the seed's price-unit threshold does
  not carry across BTC and XRP); on BTC/USDT 1h 12/26/9 the median
  ``|hist| / ATR`` at a cross is about 0.025;
- ``zero_line_filter`` (documented choice): longs only when the MACD line
  is BELOW zero at the cross (``line[t] < 0``) and shorts only when it is
  ABOVE zero (``line[t] > 0``): the classic reading that a bullish cross
  under the zero line catches momentum turning up after a down-leg, while
  one far above zero is late in the move;
- ``rsi_filter``: no long when RSI(14) is overbought (``RSI[t] > 70``), no
  short when it is oversold (``RSI[t] < 30``).

Entry, stop, target, exits, costs and the one-position-at-a-time rule are
those of every indicator strategy (``app.strategies.indicator_base``).

Warm-up: no signal before candle ``t = max(slow + signal - 1, 14)``. The
signal line is trusted from candle ``slow + signal - 2`` (the slow EMA from
``slow - 1``, then ``signal`` values of the line) and a cross compares
``t - 1`` with ``t``; RSI(14) and ATR(14) are defined from candle 14 on.

Constraint: ``fast < slow`` (declared in the space: a grid never runs or
counts ``fast >= slow``).

Parameters

    ====================  ======  =======  =============================================
    name                  type    default  meaning
    ====================  ======  =======  =============================================
    fast                  int     12       fast EMA period (1..200)
    slow                  int     26       slow EMA period (2..400), > fast
    signal                int     9        signal EMA period (1..100)
    histogram_threshold   float   0.0      min |histogram| / ATR(14) at the cross
    zero_line_filter      bool    False    longs only below zero, shorts only above
    rsi_filter            bool    False    no long with RSI > 70, no short with RSI < 30
    smart_money           choice  off      off | fvg | order_block | sweep | any (smart_money)
    smart_money_lookback  int     20       bars before the signal a confirming zone may date from
    stop_method           choice  atr      atr | percent | swing (indicator_base)
    stop_value            float   1.5      ATR multiple | percent | swing buffer in ATR
    rr_target             float   2.0      target = entry +/- rr_target x risk
    ====================  ======  =======  =============================================

Presets: ``default``: fast 8/12/24 x slow 21/24/26 (fast < slow leaves 7
pairs; 24/21 and 24/24 are never run) x signal 8/9 x histogram 0 x zero-line x RSI filter x
3 stop methods x stop 1/2 x rr 1.5/2/3 = 1,008 combinations (it includes
12/26/9 and 12/24/8); ``quick``: 12/24/9 and 12/26/9 x rr 1.5/2/3 = 6 (ATR
stop 1.5, no filters); ``smart_money``: fast 8/12 x slow 21/26 x signal 9 x
confirmation off, or fvg / order_block / sweep / any with lookback 20/50, x ATR
stop 1/2 x rr 1.5/2/3 = 216 (off against each confirmation, same everything else).

Smart-money confirmation (``app.strategies.smart_money``): with
``smart_money`` on, a signal counts only on a retest of an active zone of its
side, detected 1 to ``smart_money_lookback`` bars before it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.core.indicators import ATR_PERIOD, RSI_PERIOD, ema, rsi
from app.core.jit import njit
from app.strategies.indicator_base import STOP_VALUE_POSITIVE, Context, IndicatorStrategy, Signals, level_parameters
from app.strategies.parameters import Constraint, Parameter, ParameterSpace
from app.strategies.smart_money import LOOKBACK_ONLY_WHEN_ON, SMART_MONEY_KINDS, smart_money_parameters

RSI_OVERBOUGHT = 70.0
RSI_OVERSOLD = 30.0

MACD_SPACE = ParameterSpace(
    parameters=(
        Parameter("fast", "int", 12, "Fast EMA period of the MACD line.", low=1, high=200),
        Parameter("slow", "int", 26, "Slow EMA period of the MACD line (greater than fast).", low=2, high=400),
        Parameter("signal", "int", 9, "EMA period of the signal line.", low=1, high=100),
        Parameter(
            "histogram_threshold",
            "float",
            0.0,
            "Smallest |histogram| / ATR(14) at the cross; 0 = every cross.",
            low=0.0,
            high=10.0,
        ),
        Parameter(
            "zero_line_filter",
            "bool",
            False,
            "Longs only when the MACD line is below zero at the cross, shorts only when it is above.",
        ),
        Parameter("rsi_filter", "bool", False, "No long when RSI(14) > 70 (overbought), no short when RSI(14) < 30."),
        *smart_money_parameters(),
        *level_parameters(),
    ),
    presets={
        "default": {
            "fast": [8, 12, 24],
            "slow": [21, 24, 26],
            "signal": [8, 9],
            "histogram_threshold": [0.0],
            "zero_line_filter": [False, True],
            "rsi_filter": [False, True],
            "stop_method": ["atr", "percent", "swing"],
            "stop_value": [1.0, 2.0],
            "rr_target": [1.5, 2.0, 3.0],
        },
        "quick": {
            "fast": [12],
            "slow": [24, 26],
            "signal": [9],
            "histogram_threshold": [0.0],
            "zero_line_filter": [False],
            "rsi_filter": [False],
            "stop_method": ["atr"],
            "stop_value": [1.5],
            "rr_target": [1.5, 2.0, 3.0],
        },
        "smart_money": {
            "fast": [8, 12],
            "slow": [21, 26],
            "signal": [9],
            "smart_money": list(SMART_MONEY_KINDS),
            "smart_money_lookback": [20, 50],
            "stop_method": ["atr"],
            "stop_value": [1.0, 2.0],
            "rr_target": [1.5, 2.0, 3.0],
        },
    },
    constraints=(
        Constraint("fast < slow", lambda p: p["fast"] < p["slow"]),
        STOP_VALUE_POSITIVE,
        LOOKBACK_ONLY_WHEN_ON,
    ),
)


@njit(cache=True)
def _macd_crosses(fast_ema, slow_ema, atr, rsi_values, slow, signals, starts):  # pragma: no cover - numba
    """Return the crosses of one MACD line with each of its signal periods, grouped by signal (CSR: ``ptr``).

    The line is ``fast_ema - slow_ema``; signal line ``j`` is its EMA of period ``signals[j]`` seeded at
    candle ``slow - 1`` (``indicators.ema``'s recursion: same operations in the same order, bit for bit)
    and crosses count from candle ``starts[j]``. The signal EMAs advance together, candle by candle, so
    their recursions overlap in the CPU instead of running one after the other.
    """
    n = fast_ema.shape[0]
    m = signals.shape[0]
    alpha = 2.0 / (signals + 1.0)
    keep = 1.0 - alpha
    signal = np.zeros(m)
    hist = np.zeros(m)
    count = np.zeros(m, np.int64)
    at = np.empty((m, n), np.int64)
    direction = np.empty((m, n), np.int8)
    hist_at = np.empty((m, n))
    line_at = np.empty((m, n))
    for t in range(max(slow - 1, 0), n):
        v = fast_ema[t] - slow_ema[t]
        for j in range(m):
            s = v if t == slow - 1 else alpha[j] * v + keep[j] * signal[j]
            signal[j] = s
            h = v - s
            previous = hist[j]
            hist[j] = h
            if t >= starts[j]:
                d = 0
                if previous <= 0.0 and h > 0.0:
                    d = 1
                elif previous >= 0.0 and h < 0.0:
                    d = -1
                if d != 0:
                    c = count[j]
                    at[j, c] = t
                    direction[j, c] = d
                    hist_at[j, c] = h
                    line_at[j, c] = v
                    count[j] = c + 1
    ptr = np.zeros(m + 1, np.int64)
    for j in range(m):
        ptr[j + 1] = ptr[j] + count[j]
    index = np.empty(ptr[m], np.int64)
    out_direction = np.empty(ptr[m], np.int8)
    strength = np.empty(ptr[m])
    out_line = np.empty(ptr[m])
    out_rsi = np.empty(ptr[m])
    for j in range(m):
        for c in range(count[j]):
            r = ptr[j] + c
            t = at[j, c]
            index[r] = t
            out_direction[r] = direction[j, c]
            strength[r] = abs(hist_at[j, c]) / atr[t]
            out_line[r] = line_at[j, c]
            out_rsi[r] = rsi_values[t]
    return ptr, index, out_direction, strength, out_line, out_rsi


class MacdStrategy(IndicatorStrategy):
    """MACD line / signal line crossover with optional filters (module docstring)."""

    name = "macd"
    description = "MACD crossover: the MACD line crosses its signal line (optional strength, zero-line, RSI filters)."
    space = MACD_SPACE

    def period_key(self, params: dict[str, Any]) -> tuple:
        return (params["fast"], params["slow"], params["signal"])

    def crosses(self, ctx: Context, key: tuple) -> Signals:
        return self.crosses_of(ctx, [key])[0]

    def crosses_of(self, ctx: Context, keys: list[tuple]) -> list[Signals]:
        """Return the crosses of every (fast, slow, signal) key: one pass per MACD line for all its signals."""
        close = ctx.market.close
        rsi_values = ctx.get(("rsi", RSI_PERIOD), lambda: rsi(close, RSI_PERIOD))
        by_line: dict[tuple[int, int], list[int]] = {}
        for fast, slow, signal in keys:
            by_line.setdefault((fast, slow), []).append(signal)
        found: dict[tuple, Signals] = {}
        for (fast, slow), signals in by_line.items():
            signals = list(dict.fromkeys(signals))
            ptr, index, direction, strength, line_at, rsi_at = _macd_crosses(
                ctx.get(("ema", fast), lambda fast=fast: ema(close, fast)),
                ctx.get(("ema", slow), lambda slow=slow: ema(close, slow)),
                ctx.atr,
                rsi_values,
                slow,
                np.asarray(signals, np.int64),
                np.asarray([max(slow + signal - 1, ATR_PERIOD, RSI_PERIOD) for signal in signals], np.int64),
            )
            for j, signal in enumerate(signals):
                part = slice(ptr[j], ptr[j + 1])
                extra = {"histogram_atr": strength[part], "macd_line": line_at[part], "rsi": rsi_at[part]}
                found[(fast, slow, signal)] = Signals(index=index[part], direction=direction[part], extra=extra)
        return [found[key] for key in keys]

    def keep(self, crosses: Signals, params: dict[str, Any]) -> np.ndarray:
        keep = np.ones(len(crosses), np.bool_)
        long = crosses.direction > 0
        if params["histogram_threshold"] > 0:
            keep &= crosses.extra["histogram_atr"] >= params["histogram_threshold"]
        if params["zero_line_filter"]:
            line = crosses.extra["macd_line"]
            keep &= np.where(long, line < 0, line > 0)
        if params["rsi_filter"]:
            value = crosses.extra["rsi"]
            keep &= np.where(long, ~(value > RSI_OVERBOUGHT), ~(value < RSI_OVERSOLD))
        return keep
