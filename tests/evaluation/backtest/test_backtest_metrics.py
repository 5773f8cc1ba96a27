"""Metric formulas: compiled aggregation vs plain-Python references on random and hand-made trade lists."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from app.core.engine import (
    METRIC_CAP,
    METRIC_NAMES,
    NS_PER_HOUR,
    OutcomeTable,
    aggregate_metrics,
    metrics_row_to_dict,
    prepare_market,
)
from tests.reference_engine import reference_metrics

HOUR = 3_600_000_000_000


def market_with_gaps(rng: np.random.Generator, n: int = 400):
    """Return MarketArrays over hourly candles with a few multi-day holes (outages)."""
    steps = np.where(rng.random(n) < 0.02, rng.integers(2, 80, n), 1)
    steps[0] = 0
    time_ns = np.int64(1_700_000_000) * 1_000_000_000 + np.cumsum(steps) * HOUR
    price = 100 + np.cumsum(rng.normal(0, 1, n))
    return prepare_market(open_=price, high=price + 1, low=price - 1, close=price, time_ns=time_ns)


def random_table(rng: np.random.Generator, market, m: int, rows: int = 1) -> OutcomeTable:
    """Return an OutcomeTable of random trades (some untraded, some exactly 0R, ties on exit bars)."""
    n = len(market)
    table = OutcomeTable.allocate(rows, m)
    for k in range(rows):
        fill = rng.integers(0, n, m)
        exit_ = np.minimum(n - 1, fill + rng.integers(0, 30, m))
        r = rng.normal(0.1, 1.5, m)
        r[rng.random(m) < 0.05] = 0.0
        table.traded[k] = rng.random(m) < 0.8
        table.fill_bar[k] = fill
        table.exit_bar[k] = exit_
        table.r_multiple[k] = r
        table.planned_rr[k] = rng.uniform(1, 4, m)
        table.hours[k] = (market.time_ns[exit_] - market.time_ns[fill]) / NS_PER_HOUR
        table.exit_day[k] = market.day[exit_]
    return table


def trades_in_exit_order(table: OutcomeTable, row: int, mask: np.ndarray) -> list[int]:
    """Return setup positions of traded, masked setups sorted by (exit bar, position): the documented order."""
    chosen = [i for i in range(table.traded.shape[1]) if table.traded[row, i] and mask[i]]
    return sorted(chosen, key=lambda i: (table.exit_bar[row, i], i))


def reference_for(market, table, row, mask, risk):
    order = trades_in_exit_order(table, row, mask)
    return reference_metrics(
        r_multiples=[float(table.r_multiple[row, i]) for i in order],
        planned_rr=[float(table.planned_rr[row, i]) for i in order],
        entry_time_ns=[int(market.time_ns[table.fill_bar[row, i]]) for i in order],
        exit_time_ns=[int(market.time_ns[table.exit_bar[row, i]]) for i in order],
        first_time_ns=int(market.time_ns[0]),
        last_time_ns=int(market.time_ns[-1]),
        risk_per_trade_pct=risk,
    )


def assert_metrics_close(mine: dict, ref: dict) -> None:
    assert set(mine) == set(METRIC_NAMES)
    for name in METRIC_NAMES:
        assert mine[name] == pytest.approx(ref[name], rel=1e-9, abs=1e-9), name


@pytest.mark.parametrize("seed", range(6))
def test_random_trade_lists_match_the_reference(seed):
    rng = np.random.default_rng(seed)
    market = market_with_gaps(rng)
    table = random_table(rng, market, m=int(rng.integers(5, 200)), rows=3)
    masks = rng.random((4, table.traded.shape[1])) < 0.7
    levels, filters = np.meshgrid(np.arange(3), np.arange(4), indexing="ij")
    risk = float(rng.uniform(0.5, 3))
    got = aggregate_metrics(
        market,
        table,
        masks=masks,
        combo_level=levels.ravel(),
        combo_filter=filters.ravel(),
        risk_per_trade_pct=risk,
    )
    for c, (lv, fm) in enumerate(zip(levels.ravel(), filters.ravel(), strict=True)):
        assert_metrics_close(metrics_row_to_dict(got[c]), reference_for(market, table, lv, masks[fm], risk))
        # Grouping combinations never changes a row: one combination alone gives the same bits.
        alone = aggregate_metrics(
            market, table, masks=masks[fm : fm + 1], combo_level=[lv], combo_filter=[0], risk_per_trade_pct=risk
        )
        assert np.array_equal(alone[0], got[c])


@pytest.mark.parametrize("seed", range(4))
def test_random_trade_lists_match_independent_formulas(seed):
    """Check win rate, profit factor, drawdown, streaks, Sharpe and Sortino with pandas/numpy, not the reference."""
    rng = np.random.default_rng(100 + seed)
    market = market_with_gaps(rng)
    table = random_table(rng, market, m=150)
    mask = np.ones(150, bool)
    got = metrics_row_to_dict(
        aggregate_metrics(market, table, masks=mask[None], combo_level=[0], combo_filter=[0], risk_per_trade_pct=2.0)[0]
    )
    order = trades_in_exit_order(table, 0, mask)
    r = table.r_multiple[0, order]
    equity = np.cumprod(1 + r * 2.0 / 100)
    curve = np.r_[1.0, equity]
    drawdown = (1 - curve / np.maximum.accumulate(curve)).max() * 100
    losses = r <= 0
    longest, run = 0, 0
    for is_loss in losses:
        run = run + 1 if is_loss else 0
        longest = max(longest, run)
    exits = pd.to_datetime(market.time_ns[table.exit_bar[0, order]], utc=True)
    days = pd.date_range(
        pd.Timestamp(market.time_ns[0], tz="UTC").floor("D"), pd.Timestamp(market.time_ns[-1], tz="UTC").floor("D")
    )
    daily_equity = pd.Series(equity, index=exits).groupby(level=0).last().resample("1D").last().reindex(days).ffill()
    daily_equity = daily_equity.fillna(1.0)
    daily = pd.concat([pd.Series([1.0]), pd.Series(daily_equity.to_numpy())]).pct_change().dropna().to_numpy()
    sharpe = daily.mean() / daily.std(ddof=1) * math.sqrt(365)
    sortino = daily.mean() / math.sqrt(np.mean(np.minimum(daily, 0) ** 2)) * math.sqrt(365)

    assert got["total_trades"] == len(order)
    assert got["winning_trades"] == int((r > 0).sum())
    assert got["losing_trades"] == int(losses.sum())
    assert got["win_rate"] == pytest.approx(100 * (r > 0).mean())
    assert got["profit_factor"] == pytest.approx(r[r > 0].sum() / -r[r < 0].sum())
    assert got["win_loss_ratio"] == pytest.approx(r[r > 0].mean() / -r[r <= 0].mean())
    assert got["expectancy_r"] == pytest.approx(r.mean())
    assert got["total_profit_pct"] == pytest.approx((equity[-1] - 1) * 100)
    assert got["max_drawdown"] == pytest.approx(drawdown)
    assert got["max_consecutive_losses"] == longest
    assert got["sharpe_ratio"] == pytest.approx(sharpe, rel=1e-9)
    assert got["sortino_ratio"] == pytest.approx(sortino, rel=1e-9)
    assert got["avg_rr"] == pytest.approx(table.planned_rr[0, order].mean())
    assert got["avg_trade_duration"] == pytest.approx(table.hours[0, order].mean())


def test_hand_made_trade_list():
    # Three days of hourly candles; trades exit on day 0 (win 2R), day 0 (loss -1R) and day 2 (loss -1R).
    time_ns = np.int64(1_704_067_200) * 1_000_000_000 + np.arange(72) * HOUR  # 2024-01-01 00:00 UTC
    price = np.full(72, 100.0)
    market = prepare_market(open_=price, high=price + 1, low=price - 1, close=price, time_ns=time_ns)
    table = OutcomeTable.allocate(1, 3)
    table.traded[0] = True
    table.fill_bar[0] = [1, 2, 50]
    table.exit_bar[0] = [5, 5, 60]  # a tie on bar 5: setup order decides (win first, then loss)
    table.r_multiple[0] = [2.0, -1.0, -1.0]
    table.planned_rr[0] = 2.0
    table.hours[0] = [4.0, 3.0, 10.0]
    table.exit_day[0] = market.day[table.exit_bar[0]]
    got = metrics_row_to_dict(
        aggregate_metrics(
            market, table, masks=np.ones((1, 3), bool), combo_level=[0], combo_filter=[0], risk_per_trade_pct=1.0
        )[0]
    )
    e1, e2, e3 = 1.02, 1.02 * 0.99, 1.02 * 0.99 * 0.99
    daily = np.array([e2 - 1, 0.0, e3 / e2 - 1])
    assert got["total_trades"] == 3
    assert got["winning_trades"] == 1
    assert got["losing_trades"] == 2
    assert got["win_rate"] == pytest.approx(100 / 3)
    assert got["profit_factor"] == pytest.approx(1.0)
    assert got["win_loss_ratio"] == pytest.approx(2.0)
    assert got["expectancy_r"] == pytest.approx(0.0)
    assert got["total_profit_pct"] == pytest.approx((e3 - 1) * 100)
    assert got["max_drawdown"] == pytest.approx((1 - e3 / e1) * 100)
    assert got["max_consecutive_losses"] == 2
    assert got["avg_trade_duration"] == pytest.approx(17 / 3)
    assert got["sharpe_ratio"] == pytest.approx(daily.mean() / daily.std(ddof=1) * math.sqrt(365))
    assert got["sortino_ratio"] == pytest.approx(
        daily.mean() / math.sqrt(np.mean(np.minimum(daily, 0) ** 2)) * math.sqrt(365)
    )


def test_no_losing_trade_gives_finite_capped_ratios():
    rng = np.random.default_rng(3)
    market = market_with_gaps(rng, n=100)
    table = random_table(rng, market, m=10)
    table.traded[0] = True
    table.r_multiple[0] = np.abs(table.r_multiple[0]) + 0.1
    got = metrics_row_to_dict(
        aggregate_metrics(
            market, table, masks=np.ones((1, 10), bool), combo_level=[0], combo_filter=[0], risk_per_trade_pct=1.0
        )[0]
    )
    assert got["losing_trades"] == 0
    assert got["profit_factor"] == METRIC_CAP
    assert got["win_loss_ratio"] == METRIC_CAP
    assert got["sortino_ratio"] == METRIC_CAP
    assert got["max_drawdown"] == 0.0
    json.dumps(got, allow_nan=False)


def test_no_trades_gives_zeros():
    rng = np.random.default_rng(4)
    market = market_with_gaps(rng, n=50)
    table = random_table(rng, market, m=5)
    got = metrics_row_to_dict(
        aggregate_metrics(
            market, table, masks=np.zeros((1, 5), bool), combo_level=[0], combo_filter=[0], risk_per_trade_pct=1.0
        )[0]
    )
    assert got == {name: 0 for name in METRIC_NAMES}
    assert all(isinstance(got[k], int) for k in ("total_trades", "max_consecutive_losses"))


def test_ruinous_trade_floors_equity_at_zero():
    rng = np.random.default_rng(5)
    market = market_with_gaps(rng, n=60)
    table = random_table(rng, market, m=4)
    table.traded[0] = True
    table.r_multiple[0] = [-150.0, 2.0, 1.0, -1.0]  # a -150R gap at 1% risk would be -150% of equity
    got = metrics_row_to_dict(
        aggregate_metrics(
            market, table, masks=np.ones((1, 4), bool), combo_level=[0], combo_filter=[0], risk_per_trade_pct=1.0
        )[0]
    )
    assert got["total_profit_pct"] == -100.0
    assert got["max_drawdown"] == 100.0
    assert all(math.isfinite(v) for v in got.values())
