"""Following setups with the backtest's engine: hand-built candles, each rule of the fill and the exit."""

import numpy as np
import pytest

from app.core.costs import MAKER, TAKER, CostModel, resolve_costs
from app.evaluation.backtest import market_arrays
from app.evaluation.outcomes import CANCELLED, CLOSED, OPEN, SKIPPED, WAITING, follow_setups
from tests.conftest import make_candles

QUIET = (105.0, 106.0, 104.0, 105.0)  # never reaches the entry (100)
SPOT = resolve_costs(None)


def _follow(rows, *, max_wait_bars=100, costs=SPOT, entry_order=MAKER, index=(2,), direction=(1,), start="2024-01-01"):
    market = market_arrays(make_candles(rows, start=start))
    k = len(index)
    followed = follow_setups(
        market,
        index=np.array(index),
        direction=np.array(direction),
        entry=np.full(k, 100.0),
        stop=np.full(k, 95.0),
        target=np.full(k, 110.0),
        entry_order=entry_order,
        costs=costs,
        max_wait_bars=max_wait_bars,
    )
    return followed, market


def test_fills_and_wins_at_the_target_after_the_fill_candle():
    # The fill candle's high reaches the target, but a limit fill's candle cannot take profit; the next one does.
    followed, market = _follow([QUIET] * 3 + [(104, 111, 99, 103), (103, 111, 102, 110)])
    rec = followed.record(0, market.time_ns)
    assert rec["state"] == CLOSED and rec["exit_reason"] == "target" and rec["exit_price"] == 110.0
    assert rec["filled_at_ns"] == market.time_ns[3] and rec["exited_at_ns"] == market.time_ns[4]
    assert rec["bars_held"] == 1
    assert rec["r_multiple"] == pytest.approx((110 * 0.999 - 100 * 1.001) / 5)


def test_fills_and_loses_on_the_fill_candle():
    followed, market = _follow([QUIET] * 3 + [(103, 104, 94, 96), QUIET])
    rec = followed.record(0, market.time_ns)
    assert rec["state"] == CLOSED and rec["exit_reason"] == "stop" and rec["bars_held"] == 0
    assert rec["r_multiple"] == pytest.approx((95 * 0.9995 * 0.999 - 100 * 1.001) / 5)


def test_a_gap_through_the_stop_exits_at_the_open():
    followed, market = _follow([QUIET] * 3 + [(103, 104, 99, 98), (93, 94, 92, 93)])
    rec = followed.record(0, market.time_ns)
    assert rec["state"] == CLOSED and rec["exit_reason"] == "stop" and rec["exit_price"] == 93.0
    assert rec["r_multiple"] < -1.0


def test_never_filled_is_cancelled_after_max_wait_bars_and_waits_before():
    followed, market = _follow([QUIET] * 6, max_wait_bars=3)
    assert followed.record(0, market.time_ns)["state"] == CANCELLED
    shorter, _ = _follow([QUIET] * 5, max_wait_bars=3)  # one candle short of the window: the order still rests
    assert shorter.record(0, market.time_ns)["state"] == WAITING


def test_still_open_at_the_newest_candle_is_marked_at_its_close():
    followed, market = _follow([QUIET] * 3 + [(103, 104, 99, 100), (99, 102, 97, 101)])
    rec = followed.record(0, market.time_ns)
    assert rec["state"] == OPEN and rec["exit_reason"] is None and rec["exited_at_ns"] is None
    assert rec["r_multiple"] == pytest.approx((101 * 0.9995 * 0.999 - 100 * 1.001) / 5)


def test_following_a_window_or_a_prefix_changes_no_closed_outcome():
    rows = [QUIET] * 3 + [(103, 104, 99, 100), (99, 102, 97, 101), (101, 105, 100, 104), (104, 112, 103, 111)]
    full, market = _follow(rows)
    assert full.record(0, market.time_ns)["state"] == CLOSED
    for k in range(4, len(rows)):
        part, part_market = _follow(rows[:k])
        assert part.record(0, part_market.time_ns)["state"] == OPEN
    # A window starting at the detection bar: the same outcome (bars counted from the window's start).
    window, window_market = _follow(rows[2:], index=(0,), start="2024-01-01 02:00")
    assert window.record(0, window_market.time_ns) == full.record(0, market.time_ns)


def test_market_entries_take_one_position_at_a_time():
    rows = [QUIET] * 3 + [(101, 102, 99, 101)] * 3 + [(101, 111, 100, 110)]
    followed, market = _follow(rows, entry_order=TAKER, index=(2, 3, 6), direction=(1, 1, 1), costs=CostModel())
    assert list(followed.state) == [CLOSED, SKIPPED, WAITING]


def test_bad_entry_order_and_unsorted_market_setups_are_refused():
    with pytest.raises(ValueError, match="entry_order"):
        _follow([QUIET] * 4, entry_order="limit")
    with pytest.raises(ValueError, match="time order"):
        _follow([QUIET] * 6, entry_order=TAKER, index=(3, 2), direction=(1, 1))
