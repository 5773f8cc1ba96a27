"""Per-regime results of one optimization slice (pure: no Flask, no SQLAlchemy).

For a slice's top ``REGIME_CANDIDATES`` trusted runs by the job's ranking
metric (the best run first, whose trades the worker already has), every trade
is tagged with the regime known at its signal (``market_regime``) and summed
up per regime. A regime gets its own set only when one of those candidates
has at least max(the job's ``min_trades``, ``REGIME_MIN_TRADES``) trades in
that regime AND a positive expectancy after costs there; the set is the
candidate with the highest expectancy in the regime. Nothing else is ever proposed for a regime: every
regime set is a parameter set the backtest ran, judged on its own trades.

``checks_json["regimes"]`` = {"settings", "best_run": {label: metrics},
"candidates": [{"position", "params", "by_regime"}], "sets": {label:
{"params", "position", "metrics"}}, "current": the newest bar's regime}.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from app.core.engine import MarketArrays
from app.core.regimes import (
    ADX_TRENDING,
    CODE_LABELS,
    HIGH_PERCENTILE,
    LOW_PERCENTILE,
    VOLATILITY_WINDOW,
    MarketRegimes,
    code_metrics,
    market_regimes,
)
from app.evaluation.scoring import rank_order
from app.strategies.base import SingleRun, traded_in_exit_order

REGIME_CANDIDATES = 5
REGIME_CACHE_SIZE = 8  # candle sets whose regimes a worker process keeps
_REGIMES: dict[str, MarketRegimes] = {}  # by candles fingerprint, oldest first
# A regime's own set needs at least this many of its trades in that regime (or the job's min_trades when higher):
# picking the best of several candidates per regime is a multiple comparison, so the bar is above a run's.
REGIME_MIN_TRADES = 30


def regime_candidates(metrics: pd.DataFrame, *, ranking_metric: str, min_trades: int, best: int) -> list[int]:
    """The best run's position, then the next trusted runs' by the ranking metric: REGIME_CANDIDATES at most."""
    trusted = metrics["total_trades"].to_numpy() >= min_trades
    positions = [best]
    for position in rank_order(metrics, metric=ranking_metric, min_trades=min_trades).tolist():
        if len(positions) >= REGIME_CANDIDATES or not trusted[position]:
            break
        if position != best:
            positions.append(int(position))
    return positions


def evaluate_regimes(
    market: MarketArrays,
    *,
    fingerprint: str,
    positions: list[int],
    runs: list[SingleRun],
    combinations: list[dict[str, Any]],
    min_trades: int,
) -> tuple[list[str], dict[str, Any]]:
    """Return (the regime of each of the best run's trades, in trade order; the slice's regime report).

    ``positions``: ``regime_candidates`` (the best run first); ``runs``: their
    single runs; ``fingerprint``: the candles' (every strategy of a market shares its regimes).
    See the module docstring.
    """
    regimes = _regimes_of(fingerprint, market)
    summaries, best_codes = [], None
    for position, run in zip(positions, runs, strict=True):
        chosen = traded_in_exit_order(run)
        codes = regimes.codes[run.setups.index[chosen]]
        best_codes = codes if best_codes is None else best_codes
        summaries.append(
            {
                "position": position,
                "params": _plain(combinations[position]),
                "by_regime": code_metrics(codes, run.outcomes.r_multiple[chosen]),
            }
        )
    report = {
        "settings": {
            "window": VOLATILITY_WINDOW,
            "low_percentile": round(LOW_PERCENTILE, 4),
            "high_percentile": round(HIGH_PERCENTILE, 4),
            "adx_trending": ADX_TRENDING,
            "candidates": REGIME_CANDIDATES,
            "min_trades": max(min_trades, REGIME_MIN_TRADES),
        },
        "best_run": summaries[0]["by_regime"],
        "candidates": summaries,
        "sets": regime_sets(summaries, min_trades=max(min_trades, REGIME_MIN_TRADES)),
        "current": regimes.at(len(market) - 1) if len(market) else None,
    }
    return CODE_LABELS[best_codes.astype(np.intp) + 1].tolist(), report


def _regimes_of(fingerprint: str, market: MarketArrays) -> MarketRegimes:
    """The market's regimes, kept per candle fingerprint in this process: a worker evaluating the next strategy
    of the same candles (the runner sends them together) does not rank 250-bar windows again."""
    cache = _REGIMES
    if fingerprint not in cache:
        if len(cache) >= REGIME_CACHE_SIZE:
            cache.pop(next(iter(cache)))
        cache[fingerprint] = market_regimes(market.high, market.low, market.close)
    return cache[fingerprint]


def regime_sets(summaries: list[dict[str, Any]], *, min_trades: int) -> dict[str, dict[str, Any]]:
    """Per regime, the candidate with the best positive expectancy among those with >= min_trades trades there."""
    sets: dict[str, dict[str, Any]] = {}
    labels = sorted({label for s in summaries for label in s["by_regime"]} - {"unknown"})
    for label in labels:
        eligible = [
            s
            for s in summaries
            if s["by_regime"].get(label, {}).get("trades", 0) >= min_trades
            and s["by_regime"][label]["expectancy_r"] > 0
        ]
        if eligible:
            chosen = max(eligible, key=lambda s: (s["by_regime"][label]["expectancy_r"], -s["position"]))
            sets[label] = {
                "params": dict(chosen["params"]),
                "position": chosen["position"],
                "metrics": chosen["by_regime"][label],
            }
    return sets


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()}
