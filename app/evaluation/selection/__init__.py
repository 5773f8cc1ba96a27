"""Statistics that tell a real edge from the luck of trying many parameter sets (pure).

Issue 22, "Promote only what beats luck": the deflated Sharpe ratio and its
relatives (``deflated_sharpe``), the probability of backtest overfitting by
combinatorially symmetric cross-validation (``pbo``) and the effective number
of independent trials (``effective_trials``). Arrays in, floats and small
frozen dataclasses out; no database, no optimizer wiring. Each module's
docstring is its specification; docs/selection.md explains them for a trader.
"""

from app.evaluation.selection.deflated_sharpe import (
    ReturnMoments,
    deflated_sharpe,
    expected_max_sharpe,
    minimum_backtest_length,
    minimum_track_record_length,
    probabilistic_sharpe,
    return_moments,
)
from app.evaluation.selection.pbo import (
    OverfitReport,
    block_sums,
    cscv_splits,
    probability_of_backtest_overfitting,
)

__all__ = [
    "OverfitReport",
    "ReturnMoments",
    "block_sums",
    "cscv_splits",
    "deflated_sharpe",
    "expected_max_sharpe",
    "minimum_backtest_length",
    "minimum_track_record_length",
    "probabilistic_sharpe",
    "probability_of_backtest_overfitting",
    "return_moments",
]
