"""run_backtest_v2, the seed's entry point over run_backtest: exact trades per entry/target method, real detectors,
validation, dates, and the stored candles it loads when the caller passes none."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from app.core.engine import METRIC_CAP, METRIC_NAMES
from app.core.patterns import FVGDetector, get_detector, register_detector
from app.errors import NotFoundError
from app.evaluation.backtest import run_backtest
from app.services.backtester_v2 import run_backtest_v2
from app.services.candles import candle_store
from app.strategies import PATTERN, strategy_names
from tests.conftest import make_candles

PATTERN_TYPES = strategy_names(PATTERN)
FLAT = (100, 101, 99, 100)  # true range 2 on every bar, so ATR(14) is exactly 2
FILL = (100, 100.5, 95.9, 97.5)  # reaches every entry below, closes above every stop
RUN = (97.5, 107, 97, 106.5)  # reaches every target below
NO_COSTS = {"costs": "zero"}


def iso(df: pd.DataFrame, bar: int) -> str:
    return df.index[bar].isoformat()


def one_zone_run(stub, rows, **kwargs):
    """Backtest a single bullish zone [95, 97] known at bar 19 on hand-built candles."""
    stub.patterns = [(19, 1, 95.0, 97.0)]
    df = make_candles(rows)
    params = {"min_zone_pct": 0.0, "use_overlap": False, "sl_buffer_pct": 10.0, **NO_COSTS, **kwargs}
    return df, run_backtest_v2("TEST/USDT", "1h", None, None, candles=df, **params)


@pytest.mark.parametrize(
    ("entry_method", "tp_method", "entry", "target"),
    [
        ("zone_edge", "fixed_rr", 97.0, 97.0 + 2 * 2.2),
        ("zone_mid", "fixed_rr", 96.0, 96.0 + 2 * 1.2),
        ("atr_buffer", "fixed_rr", 97.2, 97.2 + 2 * 2.4),
        ("zone_edge", "atr_multiple", 97.0, 97.0 + 2 * 2.0),
        ("zone_mid", "atr_multiple", 96.0, 96.0 + 2 * 2.0),
        ("atr_buffer", "atr_multiple", 97.2, 97.2 + 2 * 2.0),
    ],
)
def test_entry_and_target_methods_give_exact_trades(stub_detector, entry_method, tp_method, entry, target):
    df, result = one_zone_run(
        stub_detector, [FLAT] * 20 + [FILL, RUN], entry_method=entry_method, tp_method=tp_method, rr_target=2.0
    )
    stop = 95.0 - 0.1 * 2.0
    assert result["total_trades"] == 1
    (trade,) = result["trades"]
    assert trade["direction"] == "long"
    assert trade["detected_at"] == iso(df, 19)
    assert trade["entry_time"] == iso(df, 20)
    assert trade["exit_time"] == iso(df, 21)
    assert trade["entry"] == pytest.approx(entry)
    assert trade["stop"] == pytest.approx(stop)
    assert trade["target"] == pytest.approx(target)
    assert trade["exit_price"] == pytest.approx(target)
    assert trade["exit_reason"] == "target"
    assert trade["r_multiple"] == pytest.approx((target - entry) / (entry - stop))
    assert trade["return_pct"] == pytest.approx(trade["r_multiple"] * 1.0)
    assert trade["duration_hours"] == 1.0


def test_swing_target_uses_the_confirmed_swing_high(stub_detector):
    rows = [FLAT] * 20 + [FILL, RUN]
    rows[8] = (100, 106, 99, 100)  # swing high (length 5), confirmed at bar 13, unbroken at bar 19
    _, result = one_zone_run(stub_detector, rows, tp_method="swing_target", rr_target=2.0)
    (trade,) = result["trades"]
    assert trade["target"] == 106.0
    assert trade["exit_price"] == 106.0
    assert trade["r_multiple"] == pytest.approx(9.0 / 2.2)
    _, fixed = one_zone_run(stub_detector, rows, tp_method="fixed_rr", rr_target=2.0)
    assert fixed["trades"][0]["target"] == pytest.approx(101.4)


def test_result_metrics_parameters_and_equity_curve(stub_detector):
    df, result = one_zone_run(stub_detector, [FLAT] * 20 + [FILL, RUN], risk_per_trade_pct=2.0)
    json.dumps(result, allow_nan=False)
    assert {name: result[name] for name in METRIC_NAMES} == {
        "total_trades": 1,
        "winning_trades": 1,
        "losing_trades": 0,
        "win_rate": 100.0,
        "avg_rr": 2.0,
        "total_profit_pct": pytest.approx(4.0),
        "max_drawdown": 0.0,
        "sharpe_ratio": 0.0,  # one calendar day only: no deviation to speak of
        "sortino_ratio": METRIC_CAP,
        "profit_factor": METRIC_CAP,
        "avg_trade_duration": 1.0,
        "max_consecutive_losses": 0,
        "win_loss_ratio": METRIC_CAP,
        "expectancy_r": pytest.approx(2.0),
    }
    assert result["equity_curve"] == [
        {"time": iso(df, 0), "equity": 1.0},
        {"time": iso(df, 21), "equity": pytest.approx(1.04)},
    ]
    assert result["strategy"] == "imbalance"
    assert result["costs"] == {
        "maker_fee_pct": 0.0,
        "taker_fee_pct": 0.0,
        "slippage_pct": 0.0,
        "risk_per_trade_pct": 2.0,
    }
    assert result["params"] == {
        "rr_target": 2.0,
        "sl_buffer_pct": 10.0,
        "min_zone_pct": 0.0,
        "tp_method": "fixed_rr",
        "entry_method": "zone_edge",
        "use_overlap": False,
    }
    assert result["setups_detected"] == 1
    assert result["setups"] == {"filled": 1, "cancelled": 0, "expired": 0, "skipped": 0}
    assert result["candles"] == 22


def test_atr_levels_before_enough_bars_skip_the_setup(stub_detector):
    stub_detector.patterns = [(5, 1, 95.0, 97.0)]
    df = make_candles([FLAT] * 6 + [FILL, RUN])
    result = run_backtest_v2(
        "T/USDT", "1h", None, None, candles=df, entry_method="atr_buffer", min_zone_pct=0.0, **NO_COSTS
    )
    assert result["total_trades"] == 0
    assert result["setups"]["skipped"] == 1


@pytest.mark.parametrize("pattern_type", PATTERN_TYPES)
def test_each_pattern_type_on_real_candles_uses_the_production_detector(btc_4h, pattern_type):
    result = run_backtest_v2("BTC/USDT", "4h", None, None, candles=btc_4h, strategy=pattern_type)
    json.dumps(result, allow_nan=False)
    assert result["total_trades"] > 20
    assert len(result["trades"]) == result["total_trades"]
    assert result["winning_trades"] + result["losing_trades"] == result["total_trades"]
    assert {t["exit_reason"] for t in result["trades"]} <= {"target", "stop", "end_of_data"}
    assert {t["direction"] for t in result["trades"]} == {"long", "short"}
    found = get_detector(pattern_type).detect_historical(btc_4h)
    zones = {(p["detected_at"].isoformat(), p["zone_low"], p["zone_high"]) for p in found}
    assert {(t["detected_at"], t["zone_low"], t["zone_high"]) for t in result["trades"]} <= zones
    assert result["setups_detected"] == len(found) == sum(result["setups"].values())
    assert result["setups"]["filled"] == result["total_trades"]
    exits = [t["exit_time"] for t in result["trades"]]
    assert exits == sorted(exits)
    assert [p["equity"] for p in result["equity_curve"]][-1] == pytest.approx(1 + result["total_profit_pct"] / 100)


def test_detectors_come_from_the_registry(btc_4h):
    calls = []

    class CountingFVG(FVGDetector):
        def find(self, *args, **kwargs):
            calls.append(kwargs)
            return super().find(*args, **kwargs)

    baseline = run_backtest_v2("BTC/USDT", "4h", None, None, candles=btc_4h, min_zone_pct=0.2)
    previous = register_detector("imbalance", CountingFVG)
    try:
        swapped = run_backtest_v2("BTC/USDT", "4h", None, None, candles=btc_4h, min_zone_pct=0.2)
    finally:
        register_detector("imbalance", previous)
    assert calls == [{"min_zone_pct": 0.2, "use_overlap": True}]
    assert swapped["trades"] == baseline["trades"]


def test_a_detector_without_patterns_gives_no_trades(stub_detector, btc_4h):
    result = run_backtest_v2("BTC/USDT", "4h", None, None, candles=btc_4h)
    assert stub_detector.calls
    assert result["total_trades"] == 0
    assert result["trades"] == []
    assert result["equity_curve"] == [{"time": btc_4h.index[0].isoformat(), "equity": 1.0}]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"strategy": "head_and_shoulders"}, "strategy"),
        ({"rr_target": 0}, "rr_target"),
        ({"rr_target": -1.5}, "rr_target"),
        ({"rr_target": float("nan")}, "rr_target"),
        ({"sl_buffer_pct": -1}, "sl_buffer_pct"),
        ({"entry_method": "market"}, "entry_method"),
        ({"tp_method": "moon"}, "tp_method"),
        ({"min_zone_pct": -0.1}, "min_zone_pct"),
        ({"maker_fee_pct": -0.1}, "maker_fee_pct"),
        ({"taker_fee_pct": float("nan")}, "taker_fee_pct"),
        ({"costs": "kraken"}, "costs"),
        ({"slippage_pct": -0.1}, "slippage_pct"),
        ({"risk_per_trade_pct": 0}, "risk_per_trade_pct"),
        ({"max_wait_bars": 0}, "max_wait_bars"),
        ({"use_overlap": "yes"}, "use_overlap"),
        ({"use_overlap": 1}, "use_overlap"),
        ({"use_overlap_detection": False}, "use_overlap_detection"),  # one name per setting: the old ones are refused
        ({"rr_target": 50}, "rr_target"),
        ({"start_date": "not a date"}, "start_date"),
        ({"end_date": "2021-13-45"}, "end_date"),
        ({"start_date": "2024-02-01", "end_date": "2024-01-01"}, "start_date"),
        ({"start_date": "2030-01-01"}, "candles"),
    ],
)
def test_invalid_arguments_raise_value_error_naming_them(btc_4h, kwargs, name):
    kwargs = {"start_date": None, "end_date": None, **kwargs}
    with pytest.raises(ValueError, match=name):
        run_backtest_v2("BTC/USDT", "4h", candles=btc_4h, **kwargs)


@pytest.mark.parametrize(
    "candles",
    [
        make_candles([(1, 2, 0.5, 1.5)]).iloc[:0],
        make_candles([(1, 2, 0.5, 1.5), (1, 0.5, 2, 1.5)]),  # high below low
        make_candles([(1, 2, 0.5, float("nan")), (1, 2, 0.5, 1.5)]),
        "not a frame",
    ],
)
def test_empty_or_invalid_candles_raise_value_error(candles):
    with pytest.raises(ValueError, match="candles"):
        run_backtest_v2("BTC/USDT", "1h", None, None, candles=candles)


def test_candles_are_sliced_to_the_dates(btc_4h):
    result = run_backtest_v2("BTC/USDT", "4h", "2023-01-01", "2023-06-30", candles=btc_4h)
    inside = btc_4h.loc["2023-01-01":"2023-06-30"]
    assert result["candles"] == len(inside)
    assert result["period_start"] == "2023-01-01T00:00:00+00:00"
    assert result["period_end"] == "2023-06-30T20:00:00+00:00"  # a date-only end covers its whole day
    assert all("2023-01-01" <= t["entry_time"] <= t["exit_time"] < "2023-07-01" for t in result["trades"])
    same = run_backtest_v2("BTC/USDT", "4h", None, None, candles=inside)
    assert same["trades"] == result["trades"]


def test_without_candles_the_stored_candles_are_loaded(db, bundled_dir):
    candle_store.import_csv(bundled_dir / "BTC_USDT-1d.csv.gz", symbol="BTC/USDT", timeframe="1d")
    stored = run_backtest_v2("BTC/USDT", "1d", "2022-01-01", "2023-12-31", pattern_type="order_block", rr_target=2.5)
    frame = candle_store.load_candles("BTC/USDT", "1d")
    direct = run_backtest_v2(
        "BTC/USDT", "1d", "2022-01-01", "2023-12-31", candles=frame, strategy="order_block", rr_target=2.5
    )
    assert stored == direct
    assert stored["candles"] == 730 and stored["strategy"] == "order_block"


def test_an_unknown_symbol_or_two_strategy_names_are_refused(db):
    with pytest.raises(NotFoundError, match="DOGE/USDT"):
        run_backtest_v2("DOGE/USDT", "1d")
    with pytest.raises(ValueError, match="strategy"):
        run_backtest_v2(
            "BTC/USDT", "1d", candles=make_candles([FLAT]), strategy="imbalance", pattern_type="order_block"
        )


def test_run_backtest_v2_is_run_backtest_keyed_by_symbol(btc_4h):
    params = {"rr_target": 3.0, "tp_method": "atr_multiple", "use_overlap": False}
    alias = run_backtest_v2(
        "BTC/USDT", "4h", "2022-01-01", "2022-12-31", candles=btc_4h, strategy="order_block", max_wait_bars=20, **params
    )
    direct = run_backtest(
        btc_4h, strategy="order_block", params=params, start_date="2022-01-01", end_date="2022-12-31", max_wait_bars=20
    )
    assert (alias["symbol"], alias["timeframe"]) == ("BTC/USDT", "4h")
    assert {k: v for k, v in alias.items() if k not in ("symbol", "timeframe")} == direct
    assert direct["max_wait_bars"] == 20 and direct["params"]["rr_target"] == 3.0
