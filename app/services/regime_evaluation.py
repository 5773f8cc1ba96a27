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

from app.services.backtester_v2 import run_backtest
from app.services.costs import CostModel
from app.services.market_regime import (
    ADX_TRENDING,
    HIGH_PERCENTILE,
    LOW_PERCENTILE,
    VOLATILITY_WINDOW,
    candle_regimes,
    regime_metrics,
    tag_trades,
)
from app.services.scoring import rank_order

REGIME_CANDIDATES = 5
# A regime's own set needs at least this many of its trades in that regime (or the job's min_trades when higher):
# picking the best of several candidates per regime is a multiple comparison, so the bar is above a run's.
REGIME_MIN_TRADES = 30


def evaluate_regimes(
    candles: pd.DataFrame,
    *,
    strategy: str,
    combinations: list[dict[str, Any]],
    metrics: pd.DataFrame,
    ranking_metric: str,
    min_trades: int,
    costs: CostModel,
    best_position: int,
    best_trades: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Return (the best run's trades tagged with their regime, the slice's regime report; see module docstring)."""
    regimes = candle_regimes(candles)
    labels = regimes.labels()
    tagged_best = tag_trades(best_trades, candles, labels)
    candidates = [{"position": best_position, "trades": tagged_best}]
    trusted = metrics["total_trades"].to_numpy() >= min_trades
    for position in rank_order(metrics, metric=ranking_metric, min_trades=min_trades).tolist():
        if len(candidates) >= REGIME_CANDIDATES or not trusted[position]:
            break
        if position != best_position:
            full = run_backtest(candles, strategy=strategy, params=combinations[position], costs=costs)
            candidates.append({"position": int(position), "trades": tag_trades(full["trades"], candles, labels)})
    summaries = [
        {
            "position": c["position"],
            "params": _plain(combinations[c["position"]]),
            "by_regime": regime_metrics(c["trades"]),
        }
        for c in candidates
    ]
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
        "current": regimes.at(len(candles) - 1) if len(candles) else None,
    }
    return tagged_best, report


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
