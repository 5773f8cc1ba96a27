"""Exact trades of ema_cross and macd on hand-built candles: entries at the next open, exits, costs, one position."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.costs import COST_PRESETS
from app.core.indicators import wilder_atr
from app.evaluation.backtest import market_arrays, run_backtest
from app.strategies import INDICATOR, get_strategy, strategy_names
from app.strategies.indicator_base import pending_levels

STRATEGY_PARAMS = {"ema_cross": {"ema_config": "scalping"}, "macd": {"fast": 12, "slow": 26, "signal": 9}}
SPOT = COST_PRESETS["binance_spot"]
FEE, SLIP = SPOT.taker_fee_pct / 100, SPOT.slippage_pct / 100
MAKER_FEE = SPOT.maker_fee_pct / 100


def long_r(entry: float, exit_price: float, risk: float, *, target: bool) -> float:
    """Market entry (taker + slippage) and a maker target exit or a taker + slippage stop / end-of-data exit."""
    paid = entry * (1 + SLIP) * (1 + FEE)
    got = exit_price * (1 - MAKER_FEE) if target else exit_price * (1 - SLIP) * (1 - FEE)
    return (got - paid) / risk


def short_r(entry: float, exit_price: float, risk: float, *, target: bool) -> float:
    got = entry * (1 - SLIP) * (1 - FEE)
    paid = exit_price * (1 + MAKER_FEE) if target else exit_price * (1 + SLIP) * (1 + FEE)
    return (got - paid) / risk


def run(candles, name, **params):
    return run_backtest(candles, strategy=name, params={**STRATEGY_PARAMS[name], **params}, costs="binance_spot")


def test_both_indicator_strategies_are_registered():
    assert set(strategy_names(INDICATOR)) == {"ema_cross", "macd"}
    for name in ("ema_cross", "macd"):
        strategy = get_strategy(name)
        assert strategy.entry_order == "taker"
        info = strategy.describe()
        assert info["presets"]["quick"]["size"] == 6
        assert 900 <= info["presets"]["default"]["size"] <= 1200
        assert info["json_schema"]["properties"]["stop_method"]["enum"] == ["atr", "percent", "swing"]


@pytest.mark.parametrize("name", ["ema_cross", "macd"])
def test_signals_of_the_hand_built_candles(crossing_candles, name):
    strategy = get_strategy(name)
    params = strategy.space.validate({**STRATEGY_PARAMS[name], "stop_method": "percent", "stop_value": 2.0})
    setups = strategy.setups(market_arrays(crossing_candles), params)
    assert setups.index.tolist() == [60, 70, 80]
    assert setups.direction.tolist() == [1, -1, 1]
    assert setups.entry.tolist() == [125.0, 100.0, 130.0]  # the next candle's open
    assert setups.stop.tolist() == [125.0 * 0.98, 100.0 * 1.02, 130.0 * 0.98]
    assert setups.target.tolist() == [125.0 + 2 * 2.5, 100.0 - 2 * 2.0, 130.0 + 2.0 * (130.0 - 130.0 * 0.98)]


@pytest.mark.parametrize("name", ["ema_cross", "macd"])
def test_target_stop_and_same_candle_exits_with_exact_costs(crossing_candles, name):
    result = run(crossing_candles, name, stop_method="percent", stop_value=2.0, rr_target=2.0)
    trades = result["trades"]
    assert [(t["detected_at"][11:16], t["entry_time"][11:16]) for t in trades] == [
        ("12:00", "13:00"),  # bar 60 (2024-01-03 12:00), filled at bar 61's open
        ("22:00", "23:00"),
        ("08:00", "09:00"),
    ]
    assert [t["direction"] for t in trades] == ["long", "short", "long"]
    assert [t["exit_reason"] for t in trades] == ["target", "stop", "stop"]
    assert [t["exit_time"][8:16] for t in trades] == ["03T16:00", "04T00:00", "04T10:00"]  # bars 64, 72, 82
    stop3 = 130.0 * 0.98
    assert [t["exit_price"] for t in trades] == [130.0, 102.0, stop3]  # bar 82 reaches both: the stop
    expected = [
        long_r(125.0, 130.0, 2.5, target=True),
        short_r(100.0, 102.0, 2.0, target=False),
        long_r(130.0, stop3, 130.0 - stop3, target=False),
    ]
    np.testing.assert_allclose([t["r_multiple"] for t in trades], expected, rtol=1e-12)
    assert result["setups"] == {"filled": 3, "cancelled": 0, "expired": 0, "skipped": 0}


@pytest.mark.parametrize("name", ["ema_cross", "macd"])
def test_the_market_entry_candle_can_take_profit(crossing_candles, name):
    # Filled at bar 61's open (125), risk 2.5, target 125.5: bar 61's own high (125.5) reaches it. A market
    # fill at the open trades the whole candle, so that is a win on the entry candle, not a later exit.
    result = run(crossing_candles, name, stop_method="percent", stop_value=2.0, rr_target=0.2)
    first = result["trades"][0]
    assert (first["entry_time"], first["exit_time"], first["exit_reason"]) == (
        "2024-01-03T13:00:00+00:00",
        "2024-01-03T13:00:00+00:00",
        "target",
    )
    assert first["r_multiple"] == pytest.approx(long_r(125.0, 125.5, 2.5, target=True), rel=1e-12)


@pytest.mark.parametrize("name", ["ema_cross", "macd"])
def test_one_position_at_a_time_and_end_of_data(crossing_candles, name):
    # A 30% stop and a 2R target: the first long is never closed, so the signals at 70 and 80 are ignored.
    result = run(crossing_candles, name, stop_method="percent", stop_value=30.0, rr_target=2.0)
    (trade,) = result["trades"]
    assert trade["exit_reason"] == "end_of_data" and trade["exit_price"] == 130.0
    assert trade["r_multiple"] == pytest.approx(long_r(125.0, 130.0, 125.0 * 0.3, target=False), rel=1e-12)
    assert result["setups"] == {"filled": 1, "cancelled": 0, "expired": 0, "skipped": 2}


@pytest.mark.parametrize("name", ["ema_cross", "macd"])
def test_a_signal_on_the_exit_candle_is_taken(crossing_candles, name):
    # rr 10: the first long runs until bar 70's drop stops it out; bar 70's short signal comes at that close.
    result = run(crossing_candles, name, stop_method="percent", stop_value=2.0, rr_target=10.0)
    trades = result["trades"]
    assert [(t["direction"], t["exit_reason"]) for t in trades] == [
        ("long", "stop"),
        ("short", "stop"),
        ("long", "stop"),
    ]
    assert trades[0]["exit_time"] == trades[1]["detected_at"]  # exit candle == signal candle: flat at its close
    assert trades[0]["exit_price"] == 122.5


@pytest.mark.parametrize("name", ["ema_cross", "macd"])
def test_atr_stop_uses_the_atr_of_the_signal_candle(crossing_candles, name):
    result = run(crossing_candles, name, stop_method="atr", stop_value=1.5, rr_target=2.0)
    atr = wilder_atr(*(crossing_candles[k].to_numpy() for k in ("high", "low", "close")))
    first = result["trades"][0]
    assert first["stop"] == 125.0 - 1.5 * atr[60]
    assert first["target"] == 125.0 + 2.0 * (1.5 * atr[60])


@pytest.mark.parametrize("name", ["ema_cross", "macd"])
def test_a_signal_on_the_last_candle_is_pending(crossing_candles, name):
    strategy = get_strategy(name)
    params = strategy.space.validate({**STRATEGY_PARAMS[name], "stop_method": "percent", "stop_value": 2.0})
    market = market_arrays(crossing_candles.iloc[:81])  # bar 80 (a signal) is the last candle
    setups = strategy.setups(market, params)
    assert setups.index[-1] == 80 and setups.direction[-1] == 1
    assert np.isnan([setups.entry[-1], setups.stop[-1], setups.target[-1]]).all()
    result = run(crossing_candles.iloc[:81], name, stop_method="percent", stop_value=2.0, rr_target=2.0)
    assert result["setups"]["expired"] == 1
    levels = pending_levels(market, index=80, direction=1, entry=130.0, params=params)
    assert levels == {"entry": 130.0, "stop": 130.0 * 0.98, "target": 130.0 + 2.0 * (130.0 - 130.0 * 0.98)}


def test_macd_filters(crossing_candles):
    market = market_arrays(crossing_candles)
    strategy = get_strategy("macd")
    base = {"stop_method": "percent", "stop_value": 2.0}
    crosses = strategy.setups(market, strategy.space.validate(base))
    # RSI at the three crosses: 86.6 (long, overbought), 23.4 (short, oversold), 73.0 (long, overbought).
    assert strategy.setups(market, strategy.space.validate({**base, "rsi_filter": True})).index.tolist() == []
    # Lines: -0.02 (long below zero), +1.65 (short above zero), -1.97 (long below zero): all kept.
    zero = strategy.setups(market, strategy.space.validate({**base, "zero_line_filter": True}))
    assert zero.index.tolist() == [60, 70, 80]
    strength = crosses.extra["histogram_atr"]
    strong = strategy.setups(market, strategy.space.validate({**base, "histogram_threshold": float(strength[1])}))
    assert strong.index.tolist() == [int(i) for i, s in zip(crosses.index, strength, strict=True) if s >= strength[1]]
    assert len(strong) == 2


def test_ema_confirmation_threshold(crossing_candles):
    market = market_arrays(crossing_candles)
    strategy = get_strategy("ema_cross")
    base = {"ema_config": "scalping", "stop_method": "percent", "stop_value": 2.0}
    spreads = strategy.setups(market, strategy.space.validate(base)).extra["ema_spread_atr"]
    assert spreads[0] > spreads[1] > spreads[2] > 0
    kept = strategy.setups(market, strategy.space.validate({**base, "confirmation": float(spreads[1])}))
    assert kept.index.tolist() == [60, 70]


def test_warm_up_no_signal_before_the_longest_period(btc_4h):
    market = market_arrays(btc_4h.iloc[:1500])
    ema_cross = get_strategy("ema_cross")
    for config, periods in (("default", 200), ("crypto", 100), ("scalping", 50)):
        setups = ema_cross.setups(market, ema_cross.space.validate({"ema_config": config}))
        assert len(setups) > 5 and setups.index.min() >= periods
    macd = get_strategy("macd")
    setups = macd.setups(market, macd.space.validate({"fast": 3, "slow": 6, "signal": 4}))
    assert setups.index.min() >= 14  # max(slow + signal - 1, 14): RSI and ATR defined
    setups = macd.setups(market, macd.space.validate({"fast": 12, "slow": 40, "signal": 20}))
    assert setups.index.min() >= 59
