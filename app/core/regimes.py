"""Market regimes per candle, causal (pure: numpy, pandas, numba; no Flask, no SQLAlchemy).

Two dimensions, each known at a bar's close from that bar and the ones before:

Volatility (``low`` / ``normal`` / ``high``)
    ATR% = Wilder ATR(14) / close x 100. Its percentile rank within the
    trailing ``window`` bars (this bar included; pandas' rolling rank, ties
    averaged: ``rolling_rank``) below ``LOW_PERCENTILE`` is low, above ``HIGH_PERCENTILE`` high,
    normal otherwise; unknown before ``window + 13`` bars.

Trend (``trending`` / ``ranging``)
    Wilder's ADX(14): +DM/-DM and TR smoothed with Wilder's recursion, DX =
    100 |+DI - -DI| / (+DI + -DI), ADX = Wilder average of DX (first value at
    bar 2 x 14 - 1). ADX >= ``ADX_TRENDING`` (25, the usual convention) is
    trending, below ranging; unknown before the first ADX.

A bar's regime label is ``"<volatility>-<trend>"`` (``"high-trending"``), or
``"unknown"`` when either is unknown. A trade takes the label of its signal
bar (``MarketRegimes.labels()[signal bar]``), so it is judged by what was
known when it was taken; ``regime_metrics`` sums trades up per label
(``code_metrics`` per regime code, the same without a string per trade).

Trading by regime (``regime_parameters``): a set with regime sets trades a
setup with the parameters of the regime at the setup's OWN detection bar
(its label from the candles up to that bar's close; a regime without its own
set, and ``unknown``, trade the base parameters). Per distinct parameter set
P, setups are detected with P over the history and only those whose
detection-bar regime maps to P are kept (``RegimeParameters.trades_at``):
causal, and independent of when scans ran. The labels are prefix invariant
(a bar's label never changes when candles are appended), and
``current_regime`` is the newest bar's label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from app.core.indicators import adx, wilder_atr
from app.core.jit import njit

VOLATILITY_WINDOW = 250
LOW_PERCENTILE = 1 / 3
HIGH_PERCENTILE = 2 / 3
ADX_TRENDING = 25.0
VOLATILITY_NAMES = ("low", "normal", "high")
TREND_NAMES = ("ranging", "trending")
UNKNOWN = "unknown"
LABELS = tuple(f"{v}-{t}" for v in VOLATILITY_NAMES for t in TREND_NAMES)


# Every bar's regime as one small integer (``MarketRegimes.codes``): volatility x 2 + trend, -1 unknown.
# CODE_LABELS[code + 1] is its label; trades are tagged and summed up by code, never as strings per bar.
CODE_LABELS = np.array((UNKNOWN, *LABELS), dtype=object)


@dataclass(frozen=True)
class MarketRegimes:
    """Per bar: volatility code (0 low, 1 normal, 2 high, -1 unknown), trend code (0 ranging, 1 trending, -1),
    and the values they come from (ATR% percentile 0..1, ADX)."""

    volatility: np.ndarray
    trend: np.ndarray
    atr_percentile: np.ndarray
    adx: np.ndarray

    @cached_property
    def codes(self) -> np.ndarray:
        """The regime code of every bar (int8: ``volatility x 2 + trend``, -1 when either is unknown)."""
        known = (self.volatility >= 0) & (self.trend >= 0)
        combined = self.volatility.astype(np.int8) * len(TREND_NAMES) + self.trend.astype(np.int8)
        return np.where(known, combined, -1).astype(np.int8)

    def labels(self) -> np.ndarray:
        """The label of every bar (object array of str)."""
        return CODE_LABELS[self.codes.astype(np.intp) + 1]

    def at(self, position: int) -> dict[str, Any]:
        """The regime of one bar as JSON-ready data."""
        v, t = int(self.volatility[position]), int(self.trend[position])
        return {
            "volatility": VOLATILITY_NAMES[v] if v >= 0 else UNKNOWN,
            "trend": TREND_NAMES[t] if t >= 0 else UNKNOWN,
            "regime": CODE_LABELS[int(self.codes[position]) + 1],
            "atr_percentile": _finite(self.atr_percentile[position]),
            "adx": _finite(self.adx[position]),
        }


def _finite(value: float) -> float | None:
    return round(float(value), 4) if np.isfinite(value) else None


def atr_percentile(high, low, close, *, window: int = VOLATILITY_WINDOW) -> np.ndarray:
    """The percentile rank (0..1) of each bar's ATR% within the trailing ``window`` bars; NaN while unknown."""
    atr_pct = wilder_atr(high, low, close) / np.asarray(close, dtype=np.float64) * 100.0
    return rolling_rank(atr_pct, int(window))


def rolling_rank(values: np.ndarray, window: int) -> np.ndarray:
    """``pd.Series(values).rolling(window, min_periods=window).rank(pct=True)``: a value's average rank (ties
    share it) among the trailing ``window`` values, over ``window``; NaN unless all ``window`` are finite.

    A plain count per bar (``window`` comparisons the compiler vectorizes) is twice as fast as pandas' skip list
    at the regime window of 250.
    """
    return _rolling_rank(np.ascontiguousarray(values, dtype=np.float64), int(window))


@njit(cache=True)
def _rolling_rank(values, window):  # pragma: no cover - numba
    n = values.shape[0]
    out = np.full(n, np.nan)
    finite = 0  # finite values among the trailing window
    for t in range(n):
        finite += np.isfinite(values[t])
        if t >= window:
            finite -= np.isfinite(values[t - window])
        if t < window - 1 or finite < window:
            continue
        x = values[t]
        below = 0
        equal = 0
        for k in range(t - window + 1, t + 1):
            below += values[k] < x
            equal += values[k] == x
        out[t] = (below + (equal + 1) / 2.0) / window
    return out


def market_regimes(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, *, window: int = VOLATILITY_WINDOW
) -> MarketRegimes:
    """The volatility and trend regime of every bar (see the module docstring)."""
    if int(window) < 2:
        raise ValueError(f"window must be >= 2, got {window!r}")
    pct = atr_percentile(high, low, close, window=int(window))
    volatility = np.where(pct < LOW_PERCENTILE, 0, np.where(pct > HIGH_PERCENTILE, 2, 1)).astype(np.int8)
    volatility[~np.isfinite(pct)] = -1
    strength = adx(high, low, close)
    trend = np.where(strength >= ADX_TRENDING, 1, 0).astype(np.int8)
    trend[~np.isfinite(strength)] = -1
    return MarketRegimes(volatility=volatility, trend=trend, atr_percentile=pct, adx=strength)


def candle_regimes(candles: pd.DataFrame, *, window: int = VOLATILITY_WINDOW) -> MarketRegimes:
    """``market_regimes`` of a candle frame (the candle format (docs/design-rules.md#candles))."""
    return market_regimes(
        candles["high"].to_numpy(), candles["low"].to_numpy(), candles["close"].to_numpy(), window=window
    )


def regime_codes(candles: pd.DataFrame, *, known: np.ndarray | None = None) -> np.ndarray:
    """The regime code of every candle of ``candles``; ``known``: the codes of a longer history starting with
    the same candles (causal, so its prefix is exact), else computed."""
    return known[: len(candles)] if known is not None else candle_regimes(candles).codes


def regime_metrics(regimes: Sequence[str], r_multiple: Sequence[float]) -> dict[str, dict[str, Any]]:
    """Per regime label (one per trade, of its signal bar): trades, win rate, expectancy (net R) and total R."""
    names, inverse = np.unique(np.asarray(regimes, dtype=str), return_inverse=True)
    return _per_group(names.tolist(), inverse, r_multiple)


# The labels in sorted order and, per code + 1, the label's position in it: code sums keep regime_metrics' order.
_SORTED_LABELS = sorted(CODE_LABELS.tolist())
_CODE_RANK = np.array([_SORTED_LABELS.index(label) for label in CODE_LABELS.tolist()], dtype=np.intp)


def code_metrics(codes: np.ndarray, r_multiple: Sequence[float]) -> dict[str, dict[str, Any]]:
    """``regime_metrics`` of trades tagged by regime code (``MarketRegimes.codes``) instead of label."""
    return _per_group(_SORTED_LABELS, _CODE_RANK[np.asarray(codes, dtype=np.intp) + 1], r_multiple)


def _per_group(names: list[str], group: np.ndarray, r_multiple: Sequence[float]) -> dict[str, dict[str, Any]]:
    """The summary of every non-empty group ``i`` (trades with ``group == i``), keyed ``names[i]`` in that order."""
    r = np.asarray(r_multiple, dtype=np.float64)
    trades = np.bincount(group, minlength=len(names))
    wins = np.bincount(group, weights=r > 0, minlength=len(names))
    total = np.bincount(group, weights=r, minlength=len(names))
    return {
        name: {
            "trades": int(trades[i]),
            "win_rate": round(float(wins[i] / trades[i] * 100.0), 2),
            "expectancy_r": round(float(total[i] / trades[i]), 4),
            "total_r": round(float(total[i]), 4),
        }
        for i, name in enumerate(names)
        if trades[i]
    }


@dataclass(frozen=True)
class RegimeParameters:
    """One distinct parameter set of a set with regime sets, and the regimes it trades (``regime_parameters``)."""

    params: dict[str, Any]
    labels: tuple[str, ...]  # the regime labels trading ``params`` (the base: also ``unknown``)
    regime: str | None  # the regime set's label (its first); None for the base parameters
    _traded: np.ndarray  # bool per regime code + 1 (CODE_LABELS' order)

    def trades_at(self, codes: np.ndarray, index: np.ndarray) -> np.ndarray:
        """Mask over setups detected at bars ``index``: the ones whose detection bar's regime trades ``params``."""
        return self._traded[np.asarray(codes, dtype=np.intp)[np.asarray(index, dtype=np.intp)] + 1]


def regime_parameters(base: dict[str, Any], regime_sets: dict[str, Any] | None) -> list[RegimeParameters]:
    """The distinct parameter sets a set trades and the regimes of each (module docstring): the base first.

    ``regime_sets``: label -> ``{"params": ...}`` (a production set's regime sets; None or empty: the base trades
    every regime, one entry). A regime set equal to the base, or to another regime's, joins it.
    """
    entries: list[tuple[dict[str, Any], list[str], str | None]] = [(dict(base), [], None)]
    for label in sorted(regime_sets or {}):
        if label not in LABELS:
            continue  # ``unknown`` (or a label no bar carries) has no own set: the base trades it
        params = dict(regime_sets[label]["params"])
        same = next((entry for entry in entries if entry[0] == params), None)
        if same is None:
            entries.append((params, [label], label))
        else:
            same[1].append(label)
    own = {label for _, labels, regime in entries if regime is not None for label in labels}
    entries[0][1].extend(label for label in CODE_LABELS.tolist() if label not in own)
    result = []
    for params, labels, regime in entries:
        if not labels:
            continue  # the base, when every regime has its own set
        traded = np.isin(CODE_LABELS, labels)
        ordered = tuple(label for label in CODE_LABELS.tolist() if label in labels)
        result.append(RegimeParameters(params=params, labels=ordered, regime=regime, _traded=traded))
    return result


def current_regime(candles: pd.DataFrame, *, window: int = VOLATILITY_WINDOW) -> dict[str, Any]:
    """The regime of the newest candle (``MarketRegimes.at``) with its open time as ``as_of``; unknown when empty."""
    if len(candles) == 0:
        return {
            "volatility": UNKNOWN,
            "trend": UNKNOWN,
            "regime": UNKNOWN,
            "atr_percentile": None,
            "adx": None,
            "as_of": None,
        }
    return {**candle_regimes(candles, window=window).at(len(candles) - 1), "as_of": candles.index[-1].isoformat()}
