"""Rank backtest runs: the composite score and the rankable metrics (pure: no Flask, no SQLAlchemy).

composite_score (higher is better) adds three bounded terms, so no single
metric can dominate and a score is comparable across slices:

    profit       = tanh(total_profit_pct / 100)     in (-1, 1): rewards profit, saturating
    consistency  = tanh(sharpe_ratio / 3)           in (-1, 1): rewards steady daily returns
    drawdown     = max_drawdown / 100               in [0, 1]:  penalises the deepest fall (in %)
    composite    = profit + consistency - drawdown  in (-3, 2)

A run with fewer than ``min_trades`` trades is too thin to trust: its score
is shifted down by 10, below every trusted run, so it ranks last while runs
below the bar still keep their order among themselves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

THIN_RUN_PENALTY = 10.0

# Metrics a job or query may rank by, and whether bigger is better.
RANKING_METRICS: dict[str, bool] = {
    "composite_score": True,
    "total_profit_pct": True,
    "win_rate": True,
    "sharpe_ratio": True,
    "sortino_ratio": True,
    "profit_factor": True,
    "expectancy_r": True,
    "avg_rr": True,
    "win_loss_ratio": True,
    "max_drawdown": False,
    # A run's ranking metric averaged over its one-step grid neighbours (app.evaluation.validation).
    "stability_score": True,
}


def check_metric(metric: str) -> str:
    """Return ``metric`` when it can rank runs, else raise ValueError naming the choices."""
    if metric not in RANKING_METRICS:
        raise ValueError(f"unknown ranking metric '{metric}' (known: {', '.join(RANKING_METRICS)})")
    return metric


def composite_scores(metrics: pd.DataFrame, *, min_trades: int) -> np.ndarray:
    """Return the composite score of every row of a metrics table (see module docstring)."""
    profit = np.tanh(metrics["total_profit_pct"].to_numpy(dtype=float) / 100.0)
    consistency = np.tanh(metrics["sharpe_ratio"].to_numpy(dtype=float) / 3.0)
    drawdown = metrics["max_drawdown"].to_numpy(dtype=float) / 100.0
    score = profit + consistency - drawdown
    thin = metrics["total_trades"].to_numpy() < min_trades
    return np.where(thin, score - THIN_RUN_PENALTY, score)


def composite_score(metrics: dict) -> float:
    """Return the composite score of one metrics dict, without the thin-run penalty (trust is judged apart)."""
    return float(composite_scores(pd.DataFrame([metrics]), min_trades=0)[0])


def rank_order(metrics: pd.DataFrame, *, metric: str, min_trades: int) -> np.ndarray:
    """Return row positions best first: trusted runs (>= min_trades) by ``metric``, then thin ones.

    Ties keep the table's order (a stable sort), so ranking is deterministic.
    """
    values = metrics[check_metric(metric)].to_numpy(dtype=float)
    key = values if RANKING_METRICS[metric] else -values
    thin = metrics["total_trades"].to_numpy() < min_trades
    return np.lexsort((-key, thin))
