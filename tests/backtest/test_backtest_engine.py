"""Hand-built candles with exact expected fills, exits and R multiples (compiled path and reference)."""

from __future__ import annotations

import numpy as np
import pytest

from app.services.backtest_engine import (
    EXIT_REASONS,
    STATUS_NAMES,
    apply_trading_costs,
    prepare_market,
    reference_backtest,
    simulate_setups,
)
from tests.backtest.conftest import make_candles

# Two quiet candles; the setup is detected at the close of bar 1.
PREFIX = [(100, 101, 99, 100), (100, 101, 99.5, 100.5)]
LONG = {"index": 1, "direction": 1, "entry": 97.0, "stop": 94.0, "target": 103.0}  # R = 3
SHORT = {"index": 1, "direction": -1, "entry": 103.0, "stop": 106.0, "target": 97.0}


def simulate(rows, setups, *, max_wait_bars=10, commission_pct=0.0, slippage_pct=0.0):
    """Run the compiled engine on hand-built candles; check it against the reference; return (trades, statuses)."""
    df = make_candles(rows)
    arrays = {c: df[c].to_numpy() for c in ("open", "high", "low", "close")}
    market = prepare_market(
        open_=arrays["open"],
        high=arrays["high"],
        low=arrays["low"],
        close=arrays["close"],
        time_ns=df.index.asi8,
    )
    out = simulate_setups(
        market,
        index=np.array([s["index"] for s in setups]),
        direction=np.array([s["direction"] for s in setups]),
        entry=np.array([s["entry"] for s in setups]),
        stop=np.array([s["stop"] for s in setups]),
        target=np.array([s["target"] for s in setups]),
        max_wait_bars=max_wait_bars,
        commission_pct=commission_pct,
        slippage_pct=slippage_pct,
    )
    trades = [
        {
            "setup": i,
            "fill_bar": int(out.fill_bar[i]),
            "exit_bar": int(out.exit_bar[i]),
            "exit_reason": EXIT_REASONS[out.exit_reason[i]],
            "exit_price": float(out.exit_price[i]),
            "r_multiple": float(out.r_multiple[i]),
        }
        for i in np.flatnonzero(out.traded)
    ]
    statuses = [STATUS_NAMES[s] for s in out.status]
    ref = reference_backtest(
        open_=arrays["open"],
        high=arrays["high"],
        low=arrays["low"],
        close=arrays["close"],
        time_ns=df.index.asi8,
        setups=setups,
        max_wait_bars=max_wait_bars,
        commission_pct=commission_pct,
        slippage_pct=slippage_pct,
        risk_per_trade_pct=1.0,
    )
    assert statuses == ref["statuses"]
    assert [(t["exit_bar"], t["exit_reason"]) for t in trades] == [
        (t["exit_bar"], t["exit_reason"]) for t in sorted(ref["trades"], key=lambda t: t["setup"])
    ]
    for mine, theirs in zip(trades, sorted(ref["trades"], key=lambda t: t["setup"]), strict=True):
        assert mine["exit_price"] == theirs["exit_price"]
        assert mine["r_multiple"] == pytest.approx(theirs["r_multiple"], rel=1e-12, abs=1e-12)
    return trades, statuses


def test_winning_long_exits_at_target():
    rows = PREFIX + [(100, 100.5, 96.5, 98), (98, 102, 97, 101), (101, 103.5, 100, 103)]
    trades, statuses = simulate(rows, [LONG])
    assert statuses == ["filled"]
    assert trades == [
        {"setup": 0, "fill_bar": 2, "exit_bar": 4, "exit_reason": "target", "exit_price": 103.0, "r_multiple": 2.0}
    ]


def test_winning_short_exits_at_target():
    rows = PREFIX + [(100, 103.5, 99.5, 102), (102, 103, 98, 99), (99, 100, 96.5, 97)]
    trades, _ = simulate(rows, [SHORT])
    assert [(t["fill_bar"], t["exit_bar"], t["exit_reason"], t["exit_price"]) for t in trades] == [
        (2, 4, "target", 97.0)
    ]
    assert trades[0]["r_multiple"] == pytest.approx(2.0)


def test_losing_long_exits_at_stop():
    rows = PREFIX + [(100, 100.5, 96.5, 98), (98, 99, 93.5, 94.5)]
    trades, _ = simulate(rows, [LONG])
    assert [(t["exit_bar"], t["exit_reason"], t["exit_price"]) for t in trades] == [(3, "stop", 94.0)]
    assert trades[0]["r_multiple"] == pytest.approx(-1.0)


def test_losing_short_exits_at_stop():
    rows = PREFIX + [(100, 103.5, 99.5, 102), (102, 106.5, 101, 105)]
    trades, _ = simulate(rows, [SHORT])
    assert [(t["exit_bar"], t["exit_reason"], t["exit_price"]) for t in trades] == [(3, "stop", 106.0)]
    assert trades[0]["r_multiple"] == pytest.approx(-1.0)


def test_stop_and_target_in_one_candle_is_a_loss():
    rows = PREFIX + [(100, 100.5, 96.5, 98), (98, 104, 93, 100)]
    trades, _ = simulate(rows, [LONG])
    assert [(t["exit_bar"], t["exit_reason"], t["exit_price"]) for t in trades] == [(3, "stop", 94.0)]
    assert trades[0]["r_multiple"] == pytest.approx(-1.0)


def test_gap_through_stop_exits_at_the_open():
    rows = PREFIX + [(100, 100.5, 96.5, 98), (92, 93, 91, 92.5)]
    trades, _ = simulate(rows, [LONG])
    assert [(t["exit_bar"], t["exit_reason"], t["exit_price"]) for t in trades] == [(3, "stop", 92.0)]
    assert trades[0]["r_multiple"] == pytest.approx((92 - 97) / 3)


def test_short_gap_through_stop_exits_at_the_open():
    rows = PREFIX + [(100, 103.5, 99.5, 102), (108, 109, 107, 108)]
    trades, _ = simulate(rows, [SHORT])
    assert [(t["exit_reason"], t["exit_price"]) for t in trades] == [("stop", 108.0)]
    assert trades[0]["r_multiple"] == pytest.approx((103 - 108) / 3)


def test_fill_candle_reaching_the_stop_is_a_loss():
    rows = PREFIX + [(100, 100.5, 93.5, 95), (95, 110, 95, 109)]
    trades, _ = simulate(rows, [LONG])
    assert [(t["fill_bar"], t["exit_bar"], t["exit_reason"], t["exit_price"]) for t in trades] == [(2, 2, "stop", 94.0)]


def test_target_in_the_fill_candle_does_not_count():
    # The fill candle's high passes the target, but it may have come before the fill: no win there.
    rows = PREFIX + [(104, 104, 96.5, 100), (100, 101, 99, 100), (100, 103.2, 99, 103)]
    trades, _ = simulate(rows, [LONG])
    assert [(t["fill_bar"], t["exit_bar"], t["exit_reason"]) for t in trades] == [(2, 4, "target")]


def test_close_beyond_stop_before_fill_cancels():
    # Bar 2 never reaches the entry; bar 3 closes below the stop: the order is cancelled, no trade.
    rows = PREFIX + [(100, 101, 98, 99), (99, 99.5, 92, 93), (93, 97, 90, 96)]
    trades, statuses = simulate(rows, [LONG])
    assert trades == []
    assert statuses == ["cancelled"]


def test_candle_through_entry_closing_beyond_stop_cancels():
    rows = PREFIX + [(100, 100.5, 92, 93.5), (93.5, 110, 93, 109)]
    trades, statuses = simulate(rows, [LONG])
    assert (trades, statuses) == ([], ["cancelled"])


def test_unfilled_setup_expires_after_max_wait_bars():
    rows = PREFIX + [(100, 101, 98, 100), (100, 101, 98.5, 100), (100, 100, 96, 97), (97, 104, 96, 103)]
    trades, statuses = simulate(rows, [LONG], max_wait_bars=2)
    assert (trades, statuses) == ([], ["expired"])
    # One more bar of patience and the same setup fills on bar 4 and wins on bar 5.
    trades, statuses = simulate(rows, [LONG], max_wait_bars=3)
    assert statuses == ["filled"]
    assert [(t["fill_bar"], t["exit_bar"], t["exit_reason"]) for t in trades] == [(4, 5, "target")]


def test_trade_open_at_end_of_data_closes_at_last_close():
    rows = PREFIX + [(100, 100.5, 96.5, 98), (98, 101, 97, 100.5), (100.5, 102, 99, 100)]
    trades, _ = simulate(rows, [LONG])
    assert [(t["exit_bar"], t["exit_reason"], t["exit_price"]) for t in trades] == [(4, "end_of_data", 100.0)]
    assert trades[0]["r_multiple"] == pytest.approx(1.0)


def test_setup_detected_on_the_last_bar_expires():
    trades, statuses = simulate(PREFIX, [LONG])
    assert (trades, statuses) == ([], ["expired"])


def test_invalid_levels_are_skipped():
    bad = [
        {**LONG, "entry": float("nan")},
        {**LONG, "stop": 98.0},  # stop above a long entry
        {**LONG, "target": 96.0},  # target below a long entry
    ]
    rows = PREFIX + [(100, 100.5, 96.5, 98), (98, 104, 97, 103)]
    trades, statuses = simulate(rows, bad)
    assert (trades, statuses) == ([], ["invalid", "invalid", "invalid"])


def test_costs_apply_to_both_sides():
    rows = PREFIX + [(100, 100.5, 96.5, 98), (98, 102, 97, 101), (101, 103.5, 100, 103)]
    trades, _ = simulate(rows, [LONG], commission_pct=0.1, slippage_pct=0.05)
    entry_paid = 97 * 1.0005 * 1.001
    exit_got = 103 * 0.9995 * 0.999
    assert trades[0]["r_multiple"] == pytest.approx((exit_got - entry_paid) / 3, rel=1e-12)
    assert trades[0]["r_multiple"] == pytest.approx(1.9, abs=1e-3)  # ~0.3 of price in costs = 0.1 R

    rows = PREFIX + [(100, 103.5, 99.5, 102), (102, 103, 98, 99), (99, 100, 96.5, 97)]
    trades, _ = simulate(rows, [SHORT], commission_pct=0.1, slippage_pct=0.05)
    entry_got = 103 * 0.9995 * 0.999
    exit_paid = 97 * 1.0005 * 1.001
    assert trades[0]["r_multiple"] == pytest.approx((entry_got - exit_paid) / 3, rel=1e-12)


def test_apply_trading_costs_moves_both_prices_against_the_trader():
    assert apply_trading_costs(100.0, 110.0, 1, 0.1, 0.05) == pytest.approx(
        (100 * 1.0005 * 1.001, 110 * 0.9995 * 0.999)
    )
    assert apply_trading_costs(100.0, 90.0, "short", 0.1, 0.05) == pytest.approx(
        (100 * 0.9995 * 0.999, 90 * 1.0005 * 1.001)
    )
    assert apply_trading_costs(100.0, 110.0, "long", 0.0, 0.0) == (100.0, 110.0)
    with pytest.raises(ValueError, match="commission_pct"):
        apply_trading_costs(100.0, 110.0, 1, -0.1, 0.0)
    with pytest.raises(ValueError, match="direction"):
        apply_trading_costs(100.0, 110.0, "sideways", 0.1, 0.0)


def test_many_setups_on_random_candles_match_the_reference():
    rng = np.random.default_rng(7)
    n = 600
    close = 100 + np.cumsum(rng.normal(0, 1, n))
    open_ = np.r_[close[0], close[:-1]] + rng.normal(0, 0.3, n)
    high = np.maximum(open_, close) + rng.exponential(0.5, n)
    low = np.minimum(open_, close) - rng.exponential(0.5, n)
    # Gaps: some opens jump far from the previous close.
    jumps = rng.random(n) < 0.05
    open_[jumps] += rng.normal(0, 4, jumps.sum())
    high = np.maximum(high, open_)
    low = np.minimum(low, open_)
    rows = list(zip(open_, high, low, close, strict=True))
    m = 150
    idx = np.sort(rng.integers(0, n, m))
    d = rng.choice([1, -1], m)
    entry = close[idx] - d * rng.uniform(0, 2, m)
    stop = entry - d * rng.uniform(0.5, 3, m)
    target = entry + d * rng.uniform(0.5, 8, m)
    setups = [
        {"index": int(idx[i]), "direction": int(d[i]), "entry": entry[i], "stop": stop[i], "target": target[i]}
        for i in range(m)
    ]
    # One long that surely fills on the next candle and runs to the end of the data.
    k = n - 4
    setups.append({"index": k, "direction": 1, "entry": high[k + 1], "stop": low.min() - 50, "target": high.max() + 50})
    trades, statuses = simulate(rows, setups, max_wait_bars=15, commission_pct=0.1, slippage_pct=0.05)
    assert {t["exit_reason"] for t in trades} == {"target", "stop", "end_of_data"}
    assert {"filled", "cancelled", "expired"} <= set(statuses)
