"""``ema_cross``: trade the cross of a short EMA over a long EMA in the direction of a trend EMA (pure).

Rule (all values at the close of candle ``t``; EMAs of the close,
``indicators.ema``: pandas ``ewm(adjust=False)`` seeded with the first close)

- LONG when the short EMA crosses above the long EMA
  (``short[t-1] <= long[t-1]`` and ``short[t] > long[t]``) and the close is
  above the trend EMA (``close[t] > trend[t]``);
- SHORT mirrors it (``short[t-1] >= long[t-1]``, ``short[t] < long[t]``,
  ``close[t] < trend[t]``);
- and the cross is strong enough: ``|short[t] - long[t]| / ATR(14)[t] >=
  confirmation`` (0 = off).

Entry, stop, target, exits, costs and the one-position-at-a-time rule are
those of every indicator strategy (``app.strategies.indicator_base``): a
market order at the next candle's open (taker fee + slippage), the stop from
``stop_method``/``stop_value``, the target at ``rr_target`` x risk, the exits
of docs/design-rules.md#trade-levels-and-the-backtest, and a signal while a
trade is open is ignored.

Period sets (``ema_config``; ``EMA_CONFIGS`` is this table)

    ============  =====  ====  =====
    ema_config    short  long  trend
    ============  =====  ====  =====
    default       21     50    200
    aggressive    12     26    200
    conservative  34     89    200
    scalping      5      13    50
    swing         50     100   200
    crypto        9      21    100
    ============  =====  ====  =====

Warm-up: no signal before candle ``t = max(short, long, trend)`` (the trend
EMA's period, the longest). An EMA of period ``p`` is trusted from candle
``p - 1`` (it has absorbed ``p`` closes; the ``ta`` library's first value),
and a cross at ``t`` compares candles ``t - 1`` and ``t``, so both must be at
or after ``p - 1`` for every EMA used.

Confirmation: the EMA spread at the cross in ATRs. A cross whose spread
barely changed sign is the typical whipsaw of a flat market (the two EMAs
braid around each other); a cross that opens the spread by a good fraction of
the average true range in one candle is a decisive move. Dividing by ATR
makes the threshold scale-free: the same value means the same thing for
BTC at 60,000 and XRP at 0.5, on 5m and on 1d candles (price units, like the
seed's pips, do not carry across crypto pairs). On BTC/USDT 1h with 21/50 the
median spread at a cross is about 0.03 ATR, hence the grid's 0 / 0.02 / 0.05.

Parameters

    ====================  ======  ==========  ============================================
    name                  type    default     meaning
    ====================  ======  ==========  ============================================
    ema_config            choice  default     the period set (table above)
    confirmation          float   0.0         min |short - long| / ATR(14) at the cross
    smart_money           choice  off         off | fvg | order_block | sweep | any (smart_money)
    smart_money_lookback  int     20          bars before the signal a confirming zone may date from
    stop_method           choice  atr         atr | percent | swing (indicator_base)
    stop_value            float   1.5         ATR multiple | percent | swing buffer in ATR
    rr_target             float   2.0         target = entry +/- rr_target x risk
    ====================  ======  ==========  ============================================

Presets: ``default`` 6 configs x 3 confirmations x 3 stop methods x 4 stop
values x 5 rr targets = 1,080 combinations; ``quick`` default, aggressive and
crypto x rr 1.5/2 = 6 (ATR stop 1.5, no confirmation); ``smart_money``: default,
aggressive and crypto x confirmation off, or fvg / order_block / sweep / any with
lookback 20/50, x ATR stop 1/2 x rr 1.5/2/3 = 162.

Smart-money confirmation (``app.strategies.smart_money``): with
``smart_money`` on, a signal counts only on a retest of an active zone of its
side, detected 1 to ``smart_money_lookback`` bars before it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.core.indicators import ema
from app.core.jit import njit
from app.strategies.indicator_base import STOP_VALUE_POSITIVE, Context, IndicatorStrategy, Signals, level_parameters
from app.strategies.parameters import Parameter, ParameterSpace
from app.strategies.smart_money import LOOKBACK_ONLY_WHEN_ON, SMART_MONEY_KINDS, smart_money_parameters

EMA_CONFIGS: dict[str, tuple[int, int, int]] = {
    "default": (21, 50, 200),
    "aggressive": (12, 26, 200),
    "conservative": (34, 89, 200),
    "scalping": (5, 13, 50),
    "swing": (50, 100, 200),
    "crypto": (9, 21, 100),
}

EMA_CROSS_SPACE = ParameterSpace(
    parameters=(
        Parameter(
            "ema_config",
            "choice",
            "default",
            "Named EMA period set short/long/trend: "
            + ", ".join(f"{name} {'/'.join(map(str, p))}" for name, p in EMA_CONFIGS.items())
            + ".",
            choices=tuple(EMA_CONFIGS),
        ),
        Parameter(
            "confirmation",
            "float",
            0.0,
            "Smallest EMA spread at the cross, |short - long| / ATR(14); 0 = every cross.",
            low=0.0,
            high=10.0,
        ),
        *smart_money_parameters(),
        *level_parameters(),
    ),
    presets={
        "default": {
            "ema_config": list(EMA_CONFIGS),
            "confirmation": [0.0, 0.02, 0.05],
            "stop_method": ["atr", "percent", "swing"],
            "stop_value": [0.5, 1.0, 2.0, 3.0],
            "rr_target": [1.0, 1.5, 2.0, 2.5, 3.0],
        },
        "quick": {
            "ema_config": ["default", "aggressive", "crypto"],
            "confirmation": [0.0],
            "stop_method": ["atr"],
            "stop_value": [1.5],
            "rr_target": [1.5, 2.0],
        },
        "smart_money": {
            "ema_config": ["default", "aggressive", "crypto"],
            "smart_money": list(SMART_MONEY_KINDS),
            "smart_money_lookback": [20, 50],
            "stop_method": ["atr"],
            "stop_value": [1.0, 2.0],
            "rr_target": [1.5, 2.0, 3.0],
        },
    },
    constraints=(STOP_VALUE_POSITIVE, LOOKBACK_ONLY_WHEN_ON),
)


@njit(cache=True)
def _ema_crosses(close, short, long_, trend, atr, start):  # pragma: no cover - numba
    n = close.shape[0]
    index = np.empty(n, np.int64)
    direction = np.empty(n, np.int8)
    strength = np.empty(n, np.float64)
    k = 0
    for t in range(max(start, 1), n):
        d = 0
        if short[t - 1] <= long_[t - 1] and short[t] > long_[t] and close[t] > trend[t]:
            d = 1
        elif short[t - 1] >= long_[t - 1] and short[t] < long_[t] and close[t] < trend[t]:
            d = -1
        if d != 0:
            index[k] = t
            direction[k] = d
            strength[k] = abs(short[t] - long_[t]) / atr[t]
            k += 1
    return index[:k].copy(), direction[:k].copy(), strength[:k].copy()


class EmaCrossStrategy(IndicatorStrategy):
    """Short/long EMA crossover in the direction of the trend EMA (module docstring)."""

    name = "ema_cross"
    description = "EMA crossover: the short EMA crosses the long EMA with price on the trend EMA's side."
    space = EMA_CROSS_SPACE

    def period_key(self, params: dict[str, Any]) -> tuple:
        return EMA_CONFIGS[params["ema_config"]]

    def crosses(self, ctx: Context, key: tuple) -> Signals:
        close = ctx.market.close
        short, long_, trend = (ctx.get(("ema", p), lambda p=p: ema(close, p)) for p in key)
        with np.errstate(divide="ignore", invalid="ignore"):
            index, direction, strength = _ema_crosses(close, short, long_, trend, ctx.atr, max(key))
        return Signals(index=index, direction=direction, extra={"ema_spread_atr": strength})

    def keep(self, crosses: Signals, params: dict[str, Any]) -> np.ndarray:
        threshold = params["confirmation"]
        if threshold <= 0:
            return np.ones(len(crosses), np.bool_)
        return crosses.extra["ema_spread_atr"] >= threshold
