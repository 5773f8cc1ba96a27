"""ema_cross and macd on real candles: grid rows equal single runs, constraints, causality, the one-position rule."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.costs import TAKER, resolve_costs
from app.core.engine import METRIC_NAMES
from app.core.indicators import macd, rsi, wilder_atr
from app.evaluation.backtest import market_arrays, run_backtest, run_backtest_grid
from app.strategies import ParameterError, get_strategy
from app.strategies.indicator_base import Context
from tests.reference_engine import reference_backtest, reference_metrics

GRIDS = {
    "ema_cross": {
        "ema_config": ["default", "scalping", "crypto"],
        "confirmation": [0.0, 0.05],
        "stop_method": ["atr", "percent", "swing"],
        "stop_value": [0.5, 2.0],
        "rr_target": [1.5, 3.0],
    },
    "macd": {
        "fast": [8, 12, 26],
        "slow": [24, 26],
        "signal": [8, 9],
        "histogram_threshold": [0.0, 0.03],
        "zero_line_filter": [False, True],
        "rsi_filter": [False, True],
        "stop_method": ["atr", "swing"],
        "stop_value": [1.0],
        "rr_target": [2.0],
    },
}


@pytest.mark.parametrize("name", ["ema_cross", "macd"])
def test_grid_rows_equal_single_runs_bit_for_bit(btc_4h, name):
    strategy = get_strategy(name)
    combos = strategy.space.expand(strategy.space.validate_grid(GRIDS[name]))
    grid = run_backtest_grid(btc_4h, strategy=name, combinations=combos, costs="binance_usdm")
    assert len(grid) == len(combos)
    rng = np.random.default_rng(7)
    for k in rng.choice(len(combos), size=12, replace=False):
        single = run_backtest(btc_4h, strategy=name, params=combos[k], costs="binance_usdm")
        row = grid.iloc[int(k)]
        assert [single[m] for m in METRIC_NAMES] == [row[m].item() for m in METRIC_NAMES]
        assert single["total_trades"] == len(single["trades"]) > 5
    assert grid["total_trades"].nunique() > 10


def test_fast_at_or_above_slow_is_never_run_or_counted(btc_4h):
    space = get_strategy("macd").space
    grid = space.validate_grid({"fast": [8, 12, 26, 30], "slow": [26], "signal": [9]})
    assert space.grid_size(grid) == 2
    assert [(c["fast"], c["slow"]) for c in space.expand(grid)] == [(8, 26), (12, 26)]
    default = space.preset("default")
    assert space.grid_size(default) == 1008
    pairs = {(c["fast"], c["slow"]) for c in space.expand(default)}
    assert (24, 21) not in pairs and (24, 24) not in pairs and {(12, 26), (12, 24), (24, 26)} <= pairs
    with pytest.raises(ParameterError, match="fast < slow"):
        space.validate({"fast": 26, "slow": 26})
    with pytest.raises(ParameterError, match="constraint"):
        space.validate_grid({"fast": [30], "slow": [26]})
    with pytest.raises(ValueError, match="fast < slow"):
        run_backtest(btc_4h.iloc[:500], strategy="macd", params={"fast": 30, "slow": 20})
    with pytest.raises(ParameterError, match="stop_value > 0"):
        space.validate({"stop_method": "atr", "stop_value": 0.0})
    assert space.validate({"stop_method": "swing", "stop_value": 0.0})["stop_value"] == 0.0


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("ema_cross", {"ema_config": "crypto", "stop_method": "swing", "stop_value": 0.5}),
        ("macd", {"fast": 12, "slow": 24, "signal": 8, "rsi_filter": True, "stop_method": "atr"}),
    ],
)
def test_setups_on_a_prefix_equal_the_full_history(btc_4h, name, params):
    strategy = get_strategy(name)
    checked = strategy.space.validate(params)
    full = strategy.setups(market_arrays(btc_4h), checked)
    n = len(btc_4h)
    signal_bars = full.index.tolist()
    for k in (n // 5, n // 2, (4 * n) // 5 + 3, signal_bars[len(signal_bars) // 2]):
        part = strategy.setups(market_arrays(btc_4h.iloc[: k + 1]), checked)
        done = full.index <= k - 1
        settled = part.index <= k - 1
        for column, values in part.take(settled).columns().items():
            np.testing.assert_array_equal(values, full.take(done).columns()[column], err_msg=column)
        pending = part.take(part.index == k)
        assert len(pending) == int((full.index == k).sum())
        assert np.isnan(pending.entry).all() and np.isnan(pending.stop).all()
    assert (full.index == signal_bars[len(signal_bars) // 2]).any()


@pytest.mark.parametrize("name", ["ema_cross", "macd"])
def test_trades_closed_by_k_do_not_depend_on_later_candles(btc_4h, name):
    params = {"stop_method": "atr", "stop_value": 2.0, "rr_target": 3.0}
    full = run_backtest(btc_4h, strategy=name, params=params)
    n = len(btc_4h)
    for k in (n // 3, (2 * n) // 3 + 5):
        cut = btc_4h.index[k].isoformat()
        part = run_backtest(btc_4h.iloc[: k + 1], strategy=name, params=params)
        closed_part = [t for t in part["trades"] if t["exit_reason"] != "end_of_data"]
        assert closed_part == [t for t in full["trades"] if t["exit_time"] <= cut]
        assert len(closed_part) > 10


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("ema_cross", {"ema_config": "scalping", "stop_method": "percent", "stop_value": 1.0, "rr_target": 4.0}),
        ("macd", {"fast": 8, "slow": 21, "signal": 5, "stop_method": "swing", "stop_value": 0.5, "rr_target": 2.5}),
    ],
)
def test_one_position_rule_matches_a_plain_python_walk(btc_4h, name, params):
    """Every signal simulated alone by the engine's plain-Python reference, then walked one position at a time."""
    frame = btc_4h.iloc[:6000]
    costs = resolve_costs("binance_spot")
    strategy = get_strategy(name)
    setups = strategy.setups(market_arrays(frame), strategy.space.validate(params))
    rows = [
        {"index": int(i), "direction": int(d), "entry": e, "stop": s, "target": t}
        for i, d, e, s, t in zip(setups.index, setups.direction, setups.entry, setups.stop, setups.target, strict=True)
    ]
    time_ns = frame.index.as_unit("ns").asi8
    alone = reference_backtest(
        open_=frame["open"].to_numpy(),
        high=frame["high"].to_numpy(),
        low=frame["low"].to_numpy(),
        close=frame["close"].to_numpy(),
        time_ns=time_ns,
        setups=rows,
        max_wait_bars=1,
        costs=costs,
        entry_order=TAKER,
    )
    by_setup = {t["setup"]: t for t in alone["trades"]}
    walked, busy_until = [], -1
    for k, row in enumerate(rows):
        if k in by_setup and row["index"] >= busy_until:
            walked.append(by_setup[k])
            busy_until = by_setup[k]["exit_bar"]
    assert len(walked) < len(by_setup)  # the rule did skip signals
    result = run_backtest(frame, strategy=name, params=params, costs=costs)
    trades = result["trades"]
    assert [t["exit_time"] for t in trades] == [frame.index[t["exit_bar"]].isoformat() for t in walked]
    np.testing.assert_allclose([t["r_multiple"] for t in trades], [t["r_multiple"] for t in walked], rtol=1e-12)
    expected = reference_metrics(
        r_multiples=[t["r_multiple"] for t in walked],
        planned_rr=[t["planned_rr"] for t in walked],
        entry_time_ns=[time_ns[t["fill_bar"]] for t in walked],
        exit_time_ns=[time_ns[t["exit_bar"]] for t in walked],
        first_time_ns=int(time_ns[0]),
        last_time_ns=int(time_ns[-1]),
        risk_per_trade_pct=costs.risk_per_trade_pct,
    )
    for metric in METRIC_NAMES:
        assert result[metric] == pytest.approx(expected[metric], rel=1e-9, abs=1e-9), metric
    # No two trades overlap: each entry comes after the previous exit candle.
    entries = [t["entry_time"] for t in trades]
    exits = [t["exit_time"] for t in trades]
    assert all(entry > previous_exit for entry, previous_exit in zip(entries[1:], exits[:-1], strict=True))


# The work of the vectorbt comparison (tools/benchmark_vectorbt.py), thinned: every fast/slow pair, two signals.
VECTORBT_LIKE_GRID = {
    "fast": [6, 8, 10, 12, 14, 16],
    "slow": [20, 22, 24, 26, 28, 30, 32],
    "signal": [5, 9],
    "stop_method": ["atr"],
    "stop_value": [1.5],
    "rr_target": [1.5, 3.0],
}


def test_a_many_period_grid_equals_single_runs_bit_for_bit(btc_4h):
    """Every row of a grid of 84 period sets (their crosses computed together) equals its own single run."""
    strategy = get_strategy("macd")
    combos = strategy.space.expand(strategy.space.validate_grid(VECTORBT_LIKE_GRID))
    market = market_arrays(btc_4h)
    costs = resolve_costs("binance_spot")
    grid = strategy.grid_metrics(market, combos, costs=costs, max_wait_bars=1)
    assert grid.shape == (168, len(METRIC_NAMES))
    for k, params in enumerate(combos):
        single = strategy.single_run(market, params, costs=costs, max_wait_bars=1)
        np.testing.assert_array_equal(grid[k].view(np.int64), single.metrics.view(np.int64), err_msg=str(params))
    assert len(np.unique(grid[:, 0])) > 50


def test_macd_crosses_of_many_keys_equal_the_rule_on_indicators_macd(btc_4h):
    """Crosses of many (fast, slow, signal) keys computed together equal the module docstring's rule, bit for bit."""
    strategy = get_strategy("macd")
    market = market_arrays(btc_4h)
    ctx = Context(market)
    keys = [(f, s, g) for f in (1, 6, 12) for s in (2, 20, 26, 400) for g in (1, 5, 9) if f < s]
    together = strategy.crosses_of(ctx, keys)
    atr = wilder_atr(market.high, market.low, market.close)
    relative = rsi(market.close)
    for key, found in zip(keys, together, strict=True):
        fast, slow, signal = key
        line, _, hist = macd(market.close, fast=fast, slow=slow, signal=signal)
        t = np.arange(max(slow + signal - 1, 14), len(market))
        up = (hist[t - 1] <= 0) & (hist[t] > 0)
        down = (hist[t - 1] >= 0) & (hist[t] < 0)
        at = t[up | down]
        np.testing.assert_array_equal(found.index, at, err_msg=str(key))
        np.testing.assert_array_equal(found.direction, np.where(up, 1, -1)[up | down], err_msg=str(key))
        with np.errstate(divide="ignore", invalid="ignore"):
            np.testing.assert_array_equal(found.extra["histogram_atr"], np.abs(hist[at]) / atr[at])
        np.testing.assert_array_equal(found.extra["macd_line"], line[at])
        np.testing.assert_array_equal(found.extra["rsi"], relative[at])
        alone = strategy.crosses(Context(market), key)
        np.testing.assert_array_equal(alone.index, found.index)
    assert sum(len(found) for found in together) > 10_000
