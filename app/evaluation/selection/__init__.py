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
from app.evaluation.selection.effective_trials import (
    DEFAULT_MIN_CORRELATION,
    TrialCount,
    cluster_sharpe_variance,
    cluster_trials,
    condensed_distance,
    correlation_distance,
    effective_trials,
    trial_counts,
)
from app.evaluation.selection.pbo import (
    OverfitReport,
    block_sums,
    cscv_splits,
    probability_of_backtest_overfitting,
)

__all__ = [
    "DEFAULT_MIN_CORRELATION",
    "OverfitReport",
    "ReturnMoments",
    "TrialCount",
    "block_sums",
    "cluster_sharpe_variance",
    "cluster_trials",
    "condensed_distance",
    "correlation_distance",
    "cscv_splits",
    "deflated_sharpe",
    "effective_trials",
    "expected_max_sharpe",
    "minimum_backtest_length",
    "minimum_track_record_length",
    "probabilistic_sharpe",
    "probability_of_backtest_overfitting",
    "return_moments",
    "trial_counts",
]
