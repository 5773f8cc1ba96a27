"""The honest fill rule (docs/design-rules.md#trade-levels-and-the-backtest) through run_backtest,
checked against the plain-Python reference.

A resting limit order fills on the first candle that reaches its entry, whatever that candle does afterwards:
a candle that trades through the entry and closes beyond the stop is a fill and a loss at the stop. An order
is cancelled, without a trade, only after ``max_wait_bars`` untouched candles; data ending while it still
rests leaves it expired.
"""

from __future__ import annotations

import pytest

from app.core.costs import COST_PRESETS
from app.evaluation.backtest import run_backtest
from tests.conftest import make_candles
from tests.reference_engine import reference_backtest

FLAT = (100, 101, 99, 100)  # never reaches a long entry at 97 or a short entry at 103
LONG_ZONE = (19, 1, 95.0, 97.0)  # zone_edge entry 97, stop 95 - 10% x 2 = 94.8, fixed 2R target 101.4
SHORT_ZONE = (19, -1, 103.0, 105.0)  # entry 103, stop 105.2, target 98.6
THROUGH_LONG = (100, 100.5, 93, 93.5)  # through the entry and the stop, closes below the stop
THROUGH_SHORT = (100, 107, 99.5, 106.5)  # through the entry and the stop, closes above the stop
RALLY = (93.5, 110, 93, 109)  # would have hit the long target: too late
DROP = (106.5, 107, 90, 91)  # would have hit the short target: too late
PARAMS = {"min_zone_pct": 0.0, "use_overlap": False, "sl_buffer_pct": 10.0, "rr_target": 2.0}
# binance_spot: maker 0.1% (limit entry), taker 0.1% + slippage 0.05% (stop exit).
MAKER, TAKER, SLIP = 0.001, 0.001, 0.0005


def backtest(stub, zones, rows, **kwargs):
    """Run the imbalance strategy on ``rows`` with the stub's ``zones``; check it against the reference."""
    stub.patterns = zones
    df = make_candles(rows)
    result = run_backtest(df, strategy="imbalance", params=PARAMS, **kwargs)
    levels = {
        1: lambda lo, hi: {"entry": hi, "stop": lo - 0.1 * (hi - lo), "target": hi + 2 * 1.1 * (hi - lo)},
        -1: lambda lo, hi: {"entry": lo, "stop": hi + 0.1 * (hi - lo), "target": lo - 2 * 1.1 * (hi - lo)},
    }
    # The strategy keeps setups sorted by (index, direction, zone); exit-bar ties keep that order.
    setups = [{"index": i, "direction": d, **levels[d](lo, hi)} for i, d, lo, hi in sorted(zones)]
    ref = reference_backtest(
        open_=df["open"].to_numpy(),
        high=df["high"].to_numpy(),
        low=df["low"].to_numpy(),
        close=df["close"].to_numpy(),
        time_ns=df.index.as_unit("ns").asi8,
        setups=setups,
        max_wait_bars=result["max_wait_bars"],
        costs=COST_PRESETS["binance_spot"] if "costs" not in kwargs else COST_PRESETS[kwargs["costs"]],
    )
    counts = {name: ref["statuses"].count(name) for name in ("filled", "cancelled", "expired")}
    assert result["setups"] == {**counts, "skipped": ref["statuses"].count("invalid")}
    assert [(t["exit_reason"], t["exit_price"]) for t in result["trades"]] == [
        (t["exit_reason"], pytest.approx(t["exit_price"], rel=1e-12)) for t in ref["trades"]
    ]
    assert [t["r_multiple"] for t in result["trades"]] == pytest.approx(
        [t["r_multiple"] for t in ref["trades"]], rel=1e-12
    )
    assert {name: result[name] for name in ref["metrics"]} == pytest.approx(ref["metrics"], rel=1e-12)
    return df, result


def test_long_touch_and_close_beyond_stop_is_a_fill_and_a_loss_at_the_stop(stub_detector):
    df, result = backtest(stub_detector, [LONG_ZONE], [FLAT] * 20 + [THROUGH_LONG, RALLY])
    assert result["setups"] == {"filled": 1, "cancelled": 0, "expired": 0, "skipped": 0}
    (trade,) = result["trades"]
    assert trade["entry_time"] == trade["exit_time"] == df.index[20].isoformat()
    assert trade["entry"] == 97.0
    assert trade["stop"] == pytest.approx(94.8)
    assert (trade["exit_reason"], trade["exit_price"]) == ("stop", pytest.approx(94.8))
    expected = (94.8 * (1 - SLIP) * (1 - TAKER) - 97 * (1 + MAKER)) / 2.2
    assert trade["r_multiple"] == pytest.approx(expected, rel=1e-12)
    assert trade["r_multiple"] < -1.0  # a full loss plus costs
    assert (result["total_trades"], result["losing_trades"], result["win_rate"]) == (1, 1, 0.0)


def test_short_touch_and_close_beyond_stop_is_a_fill_and_a_loss_at_the_stop(stub_detector):
    _, result = backtest(stub_detector, [SHORT_ZONE], [FLAT] * 20 + [THROUGH_SHORT, DROP])
    (trade,) = result["trades"]
    assert (trade["direction"], trade["exit_reason"], trade["exit_price"]) == ("short", "stop", pytest.approx(105.2))
    expected = (103 * (1 - MAKER) - 105.2 * (1 + SLIP) * (1 + TAKER)) / 2.2
    assert trade["r_multiple"] == pytest.approx(expected, rel=1e-12)


def test_zero_cost_touch_and_stop_is_exactly_minus_one_r(stub_detector):
    _, result = backtest(stub_detector, [LONG_ZONE, SHORT_ZONE], [FLAT] * 20 + [(100, 107, 93, 100)], costs="zero")
    assert [t["direction"] for t in result["trades"]] == ["short", "long"]
    assert [t["r_multiple"] for t in result["trades"]] == pytest.approx([-1.0, -1.0], rel=1e-12)
    assert result["setups"]["filled"] == 2


def test_order_untouched_for_max_wait_bars_is_cancelled(stub_detector):
    rows = [FLAT] * 25 + [THROUGH_LONG, RALLY]  # bars 20-24 untouched, bar 25 reaches the entry
    _, result = backtest(stub_detector, [LONG_ZONE], rows, max_wait_bars=5)
    assert result["setups"] == {"filled": 0, "cancelled": 1, "expired": 0, "skipped": 0}
    assert result["trades"] == [] and result["total_trades"] == 0
    # One more candle of patience: bar 25 fills it, and it is the touch-and-stop loss.
    _, result = backtest(stub_detector, [LONG_ZONE], rows, max_wait_bars=6)
    assert result["setups"]["filled"] == 1
    assert [t["exit_reason"] for t in result["trades"]] == ["stop"]


def test_order_still_resting_when_the_data_ends_is_expired(stub_detector):
    _, result = backtest(stub_detector, [LONG_ZONE, SHORT_ZONE], [FLAT] * 24, max_wait_bars=5)
    assert result["setups"] == {"filled": 0, "cancelled": 0, "expired": 2, "skipped": 0}
    assert result["trades"] == []
    _, result = backtest(stub_detector, [LONG_ZONE, SHORT_ZONE], [FLAT] * 25, max_wait_bars=5)
    assert result["setups"] == {"filled": 0, "cancelled": 2, "expired": 0, "skipped": 0}
