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
def _macd_crosses(hist, line, atr, rsi_values, start):  # pragma: no cover - numba
    n = hist.shape[0]
    index = np.empty(n, np.int64)
    direction = np.empty(n, np.int8)
    strength = np.empty(n, np.float64)
    line_at = np.empty(n, np.float64)
    rsi_at = np.empty(n, np.float64)
    k = 0
    for t in range(max(start, 1), n):
        d = 0
        if hist[t - 1] <= 0.0 and hist[t] > 0.0:
            d = 1
        elif hist[t - 1] >= 0.0 and hist[t] < 0.0:
            d = -1
        if d != 0:
            index[k] = t
            direction[k] = d
            strength[k] = abs(hist[t]) / atr[t]
            line_at[k] = line[t]
            rsi_at[k] = rsi_values[t]
            k += 1
    return index[:k].copy(), direction[:k].copy(), strength[:k].copy(), line_at[:k].copy(), rsi_at[:k].copy()


class MacdStrategy(IndicatorStrategy):
    """MACD line / signal line crossover with optional filters (module docstring)."""

    name = "macd"
    description = "MACD crossover: the MACD line crosses its signal line (optional strength, zero-line, RSI filters)."
    space = MACD_SPACE

    def period_key(self, params: dict[str, Any]) -> tuple:
        return (params["fast"], params["slow"], params["signal"])

    def crosses(self, ctx: Context, key: tuple) -> Signals:
        fast, slow, signal = key
        close = ctx.market.close
        line = ctx.get(
            ("macd_line", fast, slow),
            lambda: ctx.get(("ema", fast), lambda: ema(close, fast)) - ctx.get(("ema", slow), lambda: ema(close, slow)),
        )
        signal_line = ctx.get(("macd_signal", fast, slow, signal), lambda: ema(line, signal, start=slow - 1))
        rsi_values = ctx.get(("rsi", RSI_PERIOD), lambda: rsi(close, RSI_PERIOD))
        start = max(slow + signal - 1, ATR_PERIOD, RSI_PERIOD)
        with np.errstate(divide="ignore", invalid="ignore"):
            index, direction, strength, line_at, rsi_at = _macd_crosses(
                line - signal_line, line, ctx.atr, rsi_values, start
            )
        return Signals(
            index=index,
            direction=direction,
            extra={"histogram_atr": strength, "macd_line": line_at, "rsi": rsi_at},
        )

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
