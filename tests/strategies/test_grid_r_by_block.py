"""``Grid.r_by_block``: every row's net R by time block, from the grid's own work, equal to its single run's trades."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.costs import resolve_costs
from app.evaluation.backtest import market_arrays
from app.strategies import PATTERN, get_strategy, strategy_names
from app.strategies.base import Grid, runs_r_by_block


@pytest.mark.parametrize("name", strategy_names())
def test_block_sums_equal_the_single_runs_trades(btc_4h, name):
    strategy = get_strategy(name)
    combos = strategy.space.expand(strategy.space.preset("quick"))
    market = market_arrays(btc_4h)
    grid = strategy.grid(market, combos, costs=resolve_costs(), max_wait_bars=100)
    n_blocks = 16
    bar_block = np.arange(len(btc_4h)) * n_blocks // len(btc_4h)
    sums = grid.r_by_block(bar_block, n_blocks)
    runs = grid.runs(range(len(combos)))
    np.testing.assert_allclose(sums, runs_r_by_block(runs, bar_block=bar_block, n_blocks=n_blocks), rtol=0, atol=1e-9)
    for row, run in zip(sums, runs, strict=True):
        assert row.sum() == pytest.approx(run.outcomes.r_multiple[run.outcomes.traded].sum(), abs=1e-9)
    assert (np.count_nonzero(sums, axis=1) > 1).all()


def test_a_grid_without_its_own_sums_uses_its_single_runs(btc_4h):
    strategy = get_strategy("macd")
    combos = strategy.space.expand(strategy.space.preset("quick"))
    grid = strategy.grid(market_arrays(btc_4h), combos, costs=resolve_costs(), max_wait_bars=1)
    generic = Grid(metrics=grid.metrics, runs=grid.runs)
    bar_block = np.arange(len(btc_4h)) % 4
    np.testing.assert_allclose(generic.r_by_block(bar_block, 4), grid.r_by_block(bar_block, 4), atol=1e-9)


@pytest.mark.parametrize("name", strategy_names(PATTERN))
def test_a_pattern_grids_one_pass_sums_are_bitwise_its_runs(btc_4h, name):
    # The pattern grids sum every filter's trades in one compiled pass, in each run's trade order: the same bits.
    strategy = get_strategy(name)
    combos = strategy.space.expand(strategy.space.preset("default"))[::7]
    market = market_arrays(btc_4h)
    grid = strategy.grid(market, combos, costs=resolve_costs(), max_wait_bars=100)
    for n_blocks in (64, 5):
        bar_block = np.arange(len(btc_4h)) * n_blocks // len(btc_4h)
        runs = grid.runs(range(len(combos)))
        assert np.array_equal(
            grid.r_by_block(bar_block, n_blocks), runs_r_by_block(runs, bar_block=bar_block, n_blocks=n_blocks)
        )
