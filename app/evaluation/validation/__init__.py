"""Validate backtest results: walk-forward, Monte Carlo, robust parameters, a lookahead guard (pure).

No Flask and no SQLAlchemy: candle DataFrames, trade dicts and metrics tables
in, JSON-safe values out (ints, finite floats, ISO-8601 strings, None). Each
check is a module of its own, whose docstring states its rules:
``walk_forward``, ``monte_carlo``, ``robustness``, ``lookahead``.
"""

from app.evaluation.validation.lookahead import check_prefix_invariance
from app.evaluation.validation.monte_carlo import monte_carlo_returns, monte_carlo_simulation
from app.evaluation.validation.robustness import robust_best, stability_scores
from app.evaluation.validation.walk_forward import (
    MIN_TEST_CANDLES,
    MIN_TRAIN_CANDLES,
    metrics_from_trades,
    walk_forward_validation,
    walk_forward_windows,
)

__all__ = [
    "MIN_TEST_CANDLES",
    "MIN_TRAIN_CANDLES",
    "check_prefix_invariance",
    "metrics_from_trades",
    "monte_carlo_returns",
    "monte_carlo_simulation",
    "robust_best",
    "stability_scores",
    "walk_forward_validation",
    "walk_forward_windows",
]
