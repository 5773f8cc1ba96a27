"""A slice's selection check: daily returns as the engine's, trials, PBO and the DSR of its chosen runs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.core.costs import resolve_costs
from app.core.metrics import METRIC_NAMES
from app.evaluation.backtest import DEFAULT_MAX_WAIT_BARS, market_arrays
from app.evaluation.selection import return_moments
from app.evaluation.selection.slice_report import bar_blocks, daily_returns, measure_run, selection_report
from app.strategies import get_strategy

SHARPE = METRIC_NAMES.index("sharpe_ratio")


@pytest.fixture(scope="module")
def macd_grid(btc_4h):
    strategy = get_strategy("macd")
    combos = strategy.space.expand(strategy.space.preset("quick"))
    market = market_arrays(btc_4h)
    return market, strategy.grid(market, combos, costs=resolve_costs(), max_wait_bars=DEFAULT_MAX_WAIT_BARS)


def _best_report(market, grid, *, prior_trials: int) -> tuple[int, dict]:
    """The grid's best row by Sharpe ratio and the slice report that measures it."""
    best = int(np.argmax(grid.metrics[:, SHARPE]))
    report = selection_report(
        grid,
        market,
        sharpe_ratios=grid.metrics[:, SHARPE],
        chosen={"best": grid.runs([best])[0]},
        prior_trials=prior_trials,
        risk_per_trade_pct=resolve_costs().risk_per_trade_pct,
    )
    return best, report


def test_daily_returns_are_the_engines_daily_curve(macd_grid):
    market, grid = macd_grid
    for position, run in enumerate(grid.runs(range(len(grid.metrics)))):
        returns = daily_returns(run, market=market, risk_per_trade_pct=1.0)
        assert returns.shape == (market.n_days,)
        sharpe = return_moments(returns).sharpe * math.sqrt(365)
        assert sharpe == pytest.approx(grid.metrics[position, SHARPE], rel=1e-9)


def test_bar_blocks_are_equal_and_in_time_order():
    blocks = bar_blocks(100, 16)
    assert blocks[0] == 0 and blocks[-1] == 15 and (np.diff(blocks) >= 0).all()
    assert np.bincount(blocks).min() >= 6


def test_the_report_of_a_real_grid(macd_grid):
    market, grid = macd_grid
    best, report = _best_report(market, grid, prior_trials=94)
    assert report["status"] == "measured"
    assert report["trials"]["job"] == 6 and report["trials"]["cumulative"] == 100
    assert 1 <= report["trials"]["effective"] <= 6
    assert report["pbo"]["splits"] == 12_870 and 0 <= report["pbo"]["pbo"] <= 1
    chosen = report["best"]
    assert chosen["sharpe"] == pytest.approx(grid.metrics[best, SHARPE], rel=1e-9)
    assert 0 <= chosen["dsr"] <= chosen["psr"] <= 1  # the benchmark of many trials is above 0
    assert chosen["days"] == market.n_days


def test_a_single_trial_or_a_short_slice_is_not_measured(macd_grid, btc_4h):
    market, grid = macd_grid
    one = selection_report(grid, market, sharpe_ratios=np.zeros(1), chosen={}, prior_trials=0, risk_per_trade_pct=1.0)
    assert one["status"] == "not measured" and "single trial" in one["reason"]
    short = market_arrays(btc_4h.iloc[:40])
    few = selection_report(grid, short, sharpe_ratios=np.zeros(6), chosen={}, prior_trials=0, risk_per_trade_pct=1.0)
    assert few["status"] == "not measured" and "64 candles" in few["reason"]


def test_any_set_is_measured_as_the_slice_measured_its_best(macd_grid, btc_4h):
    """A set chosen another way (pooled, by hand) gets exactly the deflation the optimizer gives its best run."""
    market, grid = macd_grid
    best, report = _best_report(market, grid, prior_trials=0)
    strategy = get_strategy("macd")
    params = strategy.space.expand(strategy.space.preset("quick"))[best]
    measured = measure_run(btc_4h, strategy="macd", params=params, costs=resolve_costs(), selection=report)
    assert measured == report["best"]  # a grid row equals its single run bit for bit
