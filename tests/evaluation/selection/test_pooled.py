"""Sets pooled across symbols: qualify on every slice, rank by the worst one."""

from __future__ import annotations

import pandas as pd

from app.evaluation.selection.pooled import rank_pooled


def _runs(rows):
    return pd.DataFrame(rows, columns=["slice", "param_key", "total_trades", "expectancy_r", "sharpe_ratio"])


def test_the_set_that_holds_everywhere_beats_each_markets_own_best():
    runs = _runs(
        [
            (1, "a", 50, 0.30, 2.5),  # the best on slice 1 ...
            (1, "b", 50, 0.10, 1.0),
            (1, "c", 50, 0.05, 0.8),
            (2, "a", 50, 0.01, 0.1),  # ... barely anything on slice 2
            (2, "b", 50, 0.12, 0.9),
            (2, "c", 50, 0.20, 1.5),
        ]
    )
    ranked = rank_pooled(runs, min_trades=30)
    assert [s.param_key for s in ranked] == ["b", "c", "a"]  # worst slice 0.9, 0.8, 0.1
    top = ranked[0]
    assert (top.slices, top.worst_sharpe, top.median_sharpe, top.worst_expectancy_r) == (2, 0.9, 0.95, 0.10)
    assert "pooled across 2 symbols: worst Sharpe 0.90" in top.describe()


def test_a_set_must_qualify_on_every_slice():
    runs = _runs(
        [
            (1, "thin", 5, 0.5, 3.0),  # too few trades on slice 1
            (2, "thin", 60, 0.5, 3.0),
            (1, "loses", 60, 0.2, 1.0),
            (2, "loses", 60, -0.1, 2.0),  # a loss after costs on slice 2
            (1, "once", 60, 0.2, 1.0),  # slice 2 never ran it
        ]
    )
    assert rank_pooled(runs, min_trades=30) == []


def test_ties_go_to_the_median_then_to_grid_order_and_one_slice_pools_nothing():
    runs = _runs([(s, k, 40, 0.1, v) for s, k, v in [(1, "x", 1.0), (2, "x", 1.0), (1, "y", 1.0), (2, "y", 1.0)]])
    assert [s.param_key for s in rank_pooled(runs, min_trades=30)] == ["x", "y"]
    runs.loc[3, "sharpe_ratio"] = 2.0  # y: worst still 1.0, median higher
    assert [s.param_key for s in rank_pooled(runs, min_trades=30)] == ["y", "x"]
    assert rank_pooled(runs[runs["slice"] == 1], min_trades=30) == []
