"""run_backtest_grid: every row equals the single run, order kept, work shared, arguments validated."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pandas as pd
import pytest

import app.strategies.patterns as pattern_strategy
from app.core.engine import INT_METRICS, METRIC_NAMES
from app.core.patterns import FVGDetector, register_detector
from app.evaluation.backtest import run_backtest, run_backtest_grid
from app.strategies import PATTERN, get_strategy, strategy_names

PATTERN_TYPES = strategy_names(PATTERN)
SPACE = get_strategy("imbalance").space
GRID_PARAMETERS = SPACE.names
DEFAULT_GRID = SPACE.preset("default")


def expand(grid: dict) -> list[dict]:
    return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]


def single_run(candles, strategy, combo, **costs):
    return run_backtest(candles, strategy=strategy, params=combo, **costs)


def test_the_grid_preset_is_the_seed_design_grid():
    assert GRID_PARAMETERS == ("rr_target", "sl_buffer_pct", "min_zone_pct", "tp_method", "entry_method", "use_overlap")
    assert DEFAULT_GRID == {
        "rr_target": [1.5, 2.0, 2.5, 3.0, 3.5],
        "sl_buffer_pct": [5.0, 10.0, 15.0, 20.0],
        "min_zone_pct": [0.1, 0.15, 0.2, 0.25],
        "tp_method": ["fixed_rr", "swing_target", "atr_multiple"],
        "entry_method": ["zone_edge", "zone_mid"],
        "use_overlap": [True, False],
    }
    assert SPACE.expand(DEFAULT_GRID) == expand(DEFAULT_GRID)
    # One declared space for the three pattern strategies.
    assert all(get_strategy(name).space is SPACE for name in PATTERN_TYPES)


@pytest.mark.parametrize("pattern_type", PATTERN_TYPES)
def test_every_grid_row_equals_the_single_run(btc_4h, pattern_type):
    rng = random.Random(pattern_type)
    combos = rng.sample(expand(DEFAULT_GRID), 24)
    combos += [
        {**combos[0], "entry_method": "atr_buffer"},
        {**combos[1], "entry_method": "atr_buffer", "tp_method": "atr_multiple"},
    ]
    costs = {
        "maker_fee_pct": 0.02,
        "taker_fee_pct": 0.08,
        "slippage_pct": 0.02,
        "risk_per_trade_pct": 1.5,
        "max_wait_bars": 40,
    }
    grid = run_backtest_grid(btc_4h, strategy=pattern_type, combinations=combos, **costs)
    assert list(grid.columns) == [*GRID_PARAMETERS, *METRIC_NAMES]
    assert len(grid) == len(combos)
    for row, combo in zip(grid.to_dict("records"), combos, strict=True):
        assert {k: row[k] for k in GRID_PARAMETERS} == combo
        single = single_run(btc_4h, pattern_type, combo, **costs)
        assert {name: row[name] for name in METRIC_NAMES} == {name: single[name] for name in METRIC_NAMES}, combo
    assert grid["total_trades"].gt(0).all()
    assert grid["total_trades"].nunique() > 1  # the parameters matter


def test_grid_rows_equal_single_runs_with_a_cost_preset(btc_4h):
    combos = [{}, {"rr_target": 3.0, "tp_method": "swing_target"}, {"entry_method": "zone_mid", "use_overlap": False}]
    grid = run_backtest_grid(btc_4h, strategy="liquidity_sweep", combinations=combos, costs="binance_usdm")
    for row, combo in zip(grid.to_dict("records"), combos, strict=True):
        single = run_backtest(btc_4h, strategy="liquidity_sweep", params=combo, costs="binance_usdm")
        assert single["costs"] == {
            "maker_fee_pct": 0.02,
            "taker_fee_pct": 0.05,
            "slippage_pct": 0.05,
            "risk_per_trade_pct": 1.0,
        }
        assert {name: row[name] for name in METRIC_NAMES} == {name: single[name] for name in METRIC_NAMES}, combo
    # The venue matters: the same grid on the default spot fees earns less.
    spot = run_backtest_grid(btc_4h, strategy="liquidity_sweep", combinations=combos)
    assert (spot["expectancy_r"] < grid["expectancy_r"]).all()


def test_grid_columns_types_and_defaults(btc_4h):
    grid = run_backtest_grid(btc_4h, strategy="order_block", combinations=[{}, {"rr_target": 3}])
    assert grid.loc[0, "rr_target"] == 2.0 and grid.loc[1, "rr_target"] == 3.0
    assert grid.loc[0, "entry_method"] == "zone_edge" and bool(grid.loc[0, "use_overlap"]) is True
    for name in METRIC_NAMES:
        assert grid[name].dtype == (np.int64 if name in INT_METRICS else np.float64), name
    empty = run_backtest_grid(btc_4h, strategy="order_block", combinations=[])
    assert list(empty.columns) == [*GRID_PARAMETERS, *METRIC_NAMES]
    assert len(empty) == 0


def test_grid_shares_detection_levels_and_fills(btc_4h, monkeypatch):
    finds = []
    levels = []
    fills = []

    class CountingFVG(FVGDetector):
        def find(self, *args, **kwargs):
            finds.append((kwargs["min_zone_pct"], kwargs["use_overlap"]))
            return super().find(*args, **kwargs)

    real_levels, real_fills = pattern_strategy.compute_levels, pattern_strategy.find_fills

    def counting_levels(**kwargs):
        levels.append((kwargs["entry_method"], kwargs["sl_buffer_pct"], kwargs["tp_method"], kwargs["rr_target"]))
        return real_levels(**kwargs)

    def counting_fills(*args, **kwargs):
        fills.append(1)
        return real_fills(*args, **kwargs)

    monkeypatch.setattr(pattern_strategy, "compute_levels", counting_levels)
    monkeypatch.setattr(pattern_strategy, "find_fills", counting_fills)
    combos = expand(DEFAULT_GRID)
    previous = register_detector("imbalance", CountingFVG)
    try:
        grid = run_backtest_grid(btc_4h.iloc[:3000], strategy="imbalance", combinations=combos)
    finally:
        register_detector("imbalance", previous)
    assert len(grid) == 960
    assert sorted(finds) == sorted({(c["min_zone_pct"], c["use_overlap"]) for c in combos})  # 8 detections
    assert len(levels) == len(set(levels)) == 5 * 4 * 3 * 2  # one level computation per level set
    assert len(fills) == 4 * 2  # one fill search per (entry_method, sl_buffer_pct)


def test_stricter_filters_select_subsets(btc_4h):
    base = {"rr_target": 2.0, "sl_buffer_pct": 10.0, "tp_method": "fixed_rr", "entry_method": "zone_edge"}
    combos = [{**base, "min_zone_pct": mz, "use_overlap": ov} for mz in (0.1, 0.2, 0.3) for ov in (False, True)]
    grid = run_backtest_grid(btc_4h, strategy="imbalance", combinations=combos)
    trades = grid.set_index(["min_zone_pct", "use_overlap"])["total_trades"]
    assert trades[(0.1, False)] > trades[(0.2, False)] > trades[(0.3, False)]
    for mz in (0.1, 0.2, 0.3):
        assert trades[(mz, True)] < trades[(mz, False)]


@pytest.mark.parametrize(
    ("combo", "name"),
    [
        ({"rr_target": 0}, "rr_target"),
        ({"sl_buffer_pct": -5}, "sl_buffer_pct"),
        ({"min_zone_pct": -1}, "min_zone_pct"),
        ({"tp_method": "nope"}, "tp_method"),
        ({"entry_method": "nope"}, "entry_method"),
        ({"use_overlap": 1}, "use_overlap"),
        ({"rr": 2}, "rr"),
    ],
)
def test_grid_rejects_bad_combinations(btc_4h, combo, name):
    with pytest.raises(ValueError, match=name):
        run_backtest_grid(btc_4h, strategy="imbalance", combinations=[{}, combo])


def test_grid_rejects_bad_arguments(btc_4h):
    with pytest.raises(ValueError, match="unknown strategy 'wedge'"):
        run_backtest_grid(btc_4h, strategy="wedge", combinations=[{}])
    with pytest.raises(ValueError, match="candles"):
        run_backtest_grid(btc_4h.iloc[:0], strategy="imbalance", combinations=[{}])
    with pytest.raises(ValueError, match="maker_fee_pct"):
        run_backtest_grid(btc_4h, strategy="imbalance", combinations=[{}], maker_fee_pct=-1)
    with pytest.raises(ValueError, match="costs"):
        run_backtest_grid(btc_4h, strategy="imbalance", combinations=[{}], costs="kraken")
    with pytest.raises(ValueError, match="combinations"):
        run_backtest_grid(btc_4h, strategy="imbalance", combinations={"rr_target": 2})
    assert isinstance(run_backtest_grid(btc_4h.iloc[:50], strategy="imbalance", combinations=[{}]), pd.DataFrame)


@pytest.mark.parametrize("pattern_type", ["imbalance", "order_block", "liquidity_sweep"])
def test_single_runs_share_work_and_equal_one_run_each(btc_4h, pattern_type):
    from app.core.costs import CostModel
    from app.evaluation.backtest import market_arrays

    strategy = get_strategy(pattern_type)
    market = market_arrays(btc_4h)
    space = strategy.space
    combos = [space.validate(c) for c in random.Random(7).sample(expand(space.presets["default"]), 6)]
    costs = CostModel()
    together = strategy.single_runs(market, combos, costs=costs, max_wait_bars=100)
    for combo, run in zip(combos, together, strict=True):
        alone = strategy.single_run(market, combo, costs=costs, max_wait_bars=100)
        np.testing.assert_array_equal(run.metrics, alone.metrics)
        np.testing.assert_array_equal(run.setups.index, alone.setups.index)
        np.testing.assert_array_equal(run.setups.entry, alone.setups.entry)
        np.testing.assert_array_equal(run.outcomes.r_multiple, alone.outcomes.r_multiple)
