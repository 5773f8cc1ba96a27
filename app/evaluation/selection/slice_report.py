"""How much of one slice's best run is the luck of trying many parameter sets (pure: the optimizer's worker).

The worker has every trial's metrics and the grid's own work (``Grid``); this
module turns them into the slice's ``selection`` check (docs/selection.md):

Trials (the ledger)
    ``job``: the parameter sets this job evaluated for the slice; ``prior``:
    those earlier jobs evaluated for the same (symbol, timeframe, strategy)
    (the runner sums their slices' ``run_count``); ``cumulative = prior +
    job``. Re-running a sweep every week is more trials on mostly the same
    history, so the deflation uses the cumulative count: the sceptical
    reading. ``effective``: the clusters of this job's trials by the
    correlation of their net R over ``CORRELATION_BLOCKS`` equal blocks of
    candles (``effective_trials``); ``effective_cumulative = ceil(cumulative x
    effective / job)``, this job's measured redundancy applied to the ledger
    (earlier jobs' series are not kept).

PBO
    CSCV over ``PBO_BLOCKS`` = 16 equal blocks of candles: each trial's net R
    summed by the block of each trade's exit bar (``Grid.r_by_block``), every
    trial of the job, Sharpe of the block sums (``pbo``). Also the
    degradation slope and the probability of an out-of-sample loss.

DSR and PSR of the best and the robust-best run
    The run's daily returns are the engine's daily equity curve
    (docs/design-rules.md#trade-levels-and-the-backtest: one point per UTC
    day of the slice, ``r_d = E_d / E_{d-1} - 1``), so its per-day Sharpe
    ratio is the stored ``sharpe_ratio / sqrt(365)``. Skewness and RAW
    kurtosis of those returns (``return_moments``), ``T`` = days.
    ``V[SR]``: the variance of the per-day Sharpe ratios across the clusters
    of trials (``cluster_sharpe_variance``). ``SR0 =
    expected_max_sharpe(effective_cumulative, V)``; ``DSR = PSR(SR0)``;
    ``PSR`` against 0; the minimum track record (days) the SR would need to
    beat SR0 at 95%.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from app.core.costs import CostModel
from app.core.engine import MarketArrays
from app.evaluation.backtest import DEFAULT_MAX_WAIT_BARS, market_arrays
from app.evaluation.selection.deflated_sharpe import (
    expected_max_sharpe,
    minimum_track_record_length,
    probabilistic_sharpe,
    return_moments,
)
from app.evaluation.selection.effective_trials import cluster_sharpe_variance, trial_counts
from app.evaluation.selection.pbo import probability_of_backtest_overfitting
from app.strategies import get_strategy
from app.strategies.base import Grid, SingleRun

PBO_BLOCKS = 16
CORRELATION_BLOCKS = 64  # a multiple of PBO_BLOCKS: the PBO's blocks are sums of these
DAYS_PER_YEAR = 365  # the engine annualises its daily Sharpe ratio with sqrt(365)


def bar_blocks(n_bars: int, n_blocks: int) -> np.ndarray:
    """Return the block (0 .. n_blocks - 1) of each of ``n_bars`` candles: equal counts, in time order."""
    return np.arange(n_bars, dtype=np.int64) * n_blocks // n_bars


def daily_returns(run: SingleRun, *, market: MarketArrays, risk_per_trade_pct: float) -> np.ndarray:
    """Return the run's daily returns: the engine's daily equity curve (module docstring)."""
    outcomes = run.outcomes
    traded = outcomes.traded
    factor = np.ones(market.n_days)
    growth = np.maximum(0.0, 1.0 + outcomes.r_multiple[traded] * (risk_per_trade_pct / 100.0))
    np.multiply.at(factor, outcomes.exit_day[traded], growth)
    equity = np.cumprod(factor)
    before = np.concatenate(([1.0], equity[:-1]))
    return np.divide(equity, before, out=np.ones_like(equity), where=before > 0) - 1.0


def selection_report(
    grid: Grid,
    market: MarketArrays,
    *,
    sharpe_ratios: np.ndarray,
    chosen: dict[str, SingleRun],
    prior_trials: int,
    risk_per_trade_pct: float,
) -> dict[str, Any]:
    """Return the slice's selection statistics (module docstring); ``chosen``: e.g. best and robust runs.

    ``sharpe_ratios``: every trial's annualised ``sharpe_ratio``, in grid order.
    A slice too short for the blocks, or with a single trial, says so instead.
    """
    job_trials = len(sharpe_ratios)
    trials = {"job": job_trials, "prior": prior_trials, "cumulative": prior_trials + job_trials}
    if len(market) < CORRELATION_BLOCKS or job_trials < 2:
        why = f"fewer than {CORRELATION_BLOCKS} candles" if job_trials >= 2 else "a single trial has no selection"
        return {"status": "not measured", "reason": why, "trials": trials}
    by_block = grid.r_by_block(bar_blocks(len(market), CORRELATION_BLOCKS), CORRELATION_BLOCKS)
    counts = trial_counts(by_block.T)
    trials["effective"] = counts.effective
    trials["effective_cumulative"] = math.ceil(trials["cumulative"] * counts.effective / job_trials)
    per_day = np.asarray(sharpe_ratios, dtype=float) / math.sqrt(DAYS_PER_YEAR)
    variance = cluster_sharpe_variance(per_day, labels=counts.labels)
    benchmark = expected_max_sharpe(n_trials=trials["effective_cumulative"], variance=variance)
    overfit = probability_of_backtest_overfitting(
        by_block.reshape(job_trials, PBO_BLOCKS, -1).sum(axis=2).T, metric="sharpe"
    )
    report: dict[str, Any] = {
        "status": "measured",
        "trials": trials,
        "sharpe_variance_per_day": variance,
        "expected_max_sharpe": benchmark * math.sqrt(DAYS_PER_YEAR),  # annualised, what luck alone reaches
        "pbo": {
            "pbo": overfit.pbo,
            "degradation_slope": overfit.degradation_slope,
            "prob_oos_loss": overfit.prob_oos_loss,
            "blocks": overfit.n_blocks,
            "splits": overfit.n_splits,
        },
    }
    for name, run in chosen.items():
        returns = daily_returns(run, market=market, risk_per_trade_pct=risk_per_trade_pct)
        report[name] = deflation(returns, benchmark=benchmark)
    return report


def measure_run(
    candles: pd.DataFrame,
    *,
    strategy: str,
    params: dict[str, Any],
    costs: CostModel,
    selection: dict[str, Any],
) -> dict[str, Any]:
    """Return ``deflation`` of any parameter set of a measured slice, as the slice measured its best run.

    ``candles`` and ``costs``: the slice's own (the caller checks the candles'
    fingerprint), the optimizer's order expiry; ``selection``: the slice's measured report, whose benchmark
    (the expected maximum Sharpe of its cumulative effective trials) it is
    deflated by. A set chosen some other way from the same trials (pooled
    across symbols, picked by hand) gets the same deflation, never a milder one.
    """
    market = market_arrays(candles)
    chosen = get_strategy(strategy)
    run = chosen.single_run(market, chosen.space.validate(params), costs=costs, max_wait_bars=DEFAULT_MAX_WAIT_BARS)
    returns = daily_returns(run, market=market, risk_per_trade_pct=costs.risk_per_trade_pct)
    return deflation(returns, benchmark=selection["expected_max_sharpe"] / math.sqrt(DAYS_PER_YEAR))


def deflation(returns: np.ndarray, *, benchmark: float) -> dict[str, Any]:
    """Return the PSR (against 0), the DSR (against ``benchmark``, per day) and the moments of daily returns."""
    if np.ptp(returns) == 0.0:  # no trade, or the same return every day: no Sharpe ratio to deflate
        return {"sharpe": 0.0, "psr": 0.0, "dsr": 0.0, "days": int(returns.size), "skew": 0.0, "kurtosis": 3.0}
    moments = return_moments(returns)
    shape = {"skew": moments.skew, "kurtosis": moments.kurtosis}
    return {
        "sharpe": moments.sharpe * math.sqrt(DAYS_PER_YEAR),
        "psr": probabilistic_sharpe(moments.sharpe, benchmark=0.0, n_obs=moments.n_obs, **shape),
        "dsr": probabilistic_sharpe(moments.sharpe, benchmark=benchmark, n_obs=moments.n_obs, **shape),
        "min_track_record_days": _finite(minimum_track_record_length(moments.sharpe, benchmark=benchmark, **shape)),
        "days": moments.n_obs,
        **shape,
    }


def _finite(value: float) -> float | None:
    """JSON has no infinity: None stands for 'no track record is long enough'."""
    return value if math.isfinite(value) else None
