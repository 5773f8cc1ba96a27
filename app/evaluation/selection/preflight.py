"""What luck alone shows a job before it runs: the expected best Sharpe of its trials and the data it would need.

Bailey, Borwein, Lopez de Prado and Zhu (2014), "Pseudo-mathematics and
financial charlatanism": the annual Sharpe ratios of N skill-less strategies
backtested over ``y`` years are estimated with a variance of about ``1 / y``,
so the best of them is expected to show

    E[max SR] ~ Z(N) / sqrt(y),  Z(N) = (1 - gamma) Z^-1(1 - 1/N) + gamma Z^-1(1 - 1/(N e))

(``expected_max_sharpe`` with ``V = 1 / y``), and a target annual Sharpe
``SR*`` needs at least ``MinBTL = (Z(N) / SR*)^2`` years before the best of N
can show it by luck no more than on average (``minimum_backtest_length``).
N is the raw trial count here (the effective count is known only after the
run; the raw one states the larger, sceptical figure).
"""

from __future__ import annotations

from typing import Any

from app.evaluation.selection.deflated_sharpe import expected_max_sharpe, minimum_backtest_length

TARGET_SHARPE = 1.0  # the annual Sharpe a trader would call an edge
DAYS_PER_YEAR = 365.25


def luck_preview(*, trials: int, days: float, target_sharpe: float = TARGET_SHARPE) -> dict[str, Any]:
    """Return the expected best annual Sharpe of ``trials`` skill-less trials over ``days``, and MinBTL."""
    years = max(days, 1.0) / DAYS_PER_YEAR
    expected = expected_max_sharpe(n_trials=max(trials, 1), variance=1.0 / years)
    needed = minimum_backtest_length(n_trials=max(trials, 1), target_sharpe=target_sharpe)
    return {
        "trials": trials,
        "years": years,
        "expected_max_sharpe": expected,
        "target_sharpe": target_sharpe,
        "min_backtest_years": needed,
        "warning": (
            f"{trials:,} trials over {years:.1f} years: luck alone makes the best show an annual Sharpe of about "
            f"{expected:.2f}; a Sharpe of {target_sharpe:g} needs at least {needed:.1f} years of data"
            + (" (this range is shorter)" if years < needed else "")
        ),
    }
