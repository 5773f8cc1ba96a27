"""Venue-aware costs: presets, overrides, argument errors, and exact net R through run_backtest."""

from __future__ import annotations

import math

import pytest

from app.core.costs import COST_PRESETS, DEFAULT_COSTS, MAKER, TAKER, CostModel, resolve_costs
from app.evaluation.backtest import run_backtest, run_backtest_grid
from tests.conftest import make_candles

FLAT = (100, 101, 99, 100)
FILL = (100, 100.5, 95.9, 97.5)  # reaches the entry 97, stays above the stop 94.8
RUN = (97.5, 107, 97, 106.5)  # reaches the 2R target 101.4
FALL = (97.5, 98, 94, 94.5)  # reaches the stop 94.8
PARAMS = {"min_zone_pct": 0.0, "use_overlap": False, "sl_buffer_pct": 10.0, "rr_target": 2.0}
ENTRY, STOP, TARGET, RISK = 97.0, 94.8, 101.4, 2.2


def one_trade(stub, last_candle, **costs):
    stub.patterns = [(19, 1, 95.0, 97.0)]
    result = run_backtest(make_candles([FLAT] * 20 + [FILL, last_candle]), strategy="imbalance", params=PARAMS, **costs)
    (trade,) = result["trades"]
    return result, trade


@pytest.mark.parametrize(
    ("name", "maker", "taker"),
    [("binance_spot", 0.1, 0.1), ("binance_spot_bnb", 0.075, 0.075), ("binance_usdm", 0.02, 0.05)],
)
def test_presets_resolve_to_their_fees(name, maker, taker):
    model = resolve_costs(name)
    assert model == COST_PRESETS[name]
    assert (model.maker_fee_pct, model.taker_fee_pct, model.slippage_pct, model.risk_per_trade_pct) == (
        maker,
        taker,
        0.05,
        1.0,
    )


def test_default_is_binance_spot_with_slippage_and_zero_is_free():
    assert DEFAULT_COSTS == "binance_spot"
    assert resolve_costs() == resolve_costs(None) == CostModel(0.1, 0.1, 0.05, 1.0)
    assert resolve_costs("zero").as_dict() == {
        "maker_fee_pct": 0.0,
        "taker_fee_pct": 0.0,
        "slippage_pct": 0.0,
        "risk_per_trade_pct": 1.0,
    }


def test_keywords_override_the_preset():
    model = resolve_costs("binance_usdm", slippage_pct=0.0, risk_per_trade_pct=2.0)
    assert model == CostModel(maker_fee_pct=0.02, taker_fee_pct=0.05, slippage_pct=0.0, risk_per_trade_pct=2.0)
    assert resolve_costs(maker_fee_pct=0.0) == CostModel(0.0, 0.1, 0.05, 1.0)
    assert resolve_costs({"maker_fee_pct": 0.01, "taker_fee_pct": 0.04}) == CostModel(0.01, 0.04, 0.05, 1.0)
    custom = CostModel(0.03, 0.06, 0.01, 0.5)
    assert resolve_costs(custom) is custom


def test_slippage_applies_only_to_taker_fills():
    model = CostModel(maker_fee_pct=0.02, taker_fee_pct=0.05, slippage_pct=0.1)
    assert model.factors(MAKER) == pytest.approx((1.0002, 0.9998), rel=1e-15)
    assert model.factors(TAKER) == pytest.approx((1.001 * 1.0005, 0.999 * 0.9995), rel=1e-15)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"costs": "kraken"}, "costs"),
        ({"costs": {"commission_pct": 0.1}}, "costs"),
        ({"costs": 0.1}, "costs"),
        ({"maker_fee_pct": -0.01}, "maker_fee_pct"),
        ({"maker_fee_pct": 10.0}, "maker_fee_pct"),
        ({"taker_fee_pct": math.nan}, "taker_fee_pct"),
        ({"taker_fee_pct": "0.1"}, "taker_fee_pct"),
        ({"slippage_pct": True}, "slippage_pct"),
        ({"slippage_pct": -1}, "slippage_pct"),
        ({"risk_per_trade_pct": 0}, "risk_per_trade_pct"),
        ({"risk_per_trade_pct": 101}, "risk_per_trade_pct"),
    ],
)
def test_argument_errors_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        resolve_costs(**kwargs)
    candles = make_candles([FLAT] * 30)
    with pytest.raises(ValueError, match=name):
        run_backtest(candles, strategy="imbalance", **kwargs)
    with pytest.raises(ValueError, match=name):
        run_backtest_grid(candles, strategy="imbalance", combinations=[{}], **kwargs)


def test_a_winning_limit_trade_pays_the_maker_fee_on_both_sides_and_no_slippage(stub_detector):
    result, trade = one_trade(stub_detector, RUN, costs="binance_usdm")
    assert (trade["exit_reason"], trade["exit_price"]) == ("target", pytest.approx(TARGET))
    expected = (TARGET * (1 - 0.0002) - ENTRY * (1 + 0.0002)) / RISK
    assert trade["r_multiple"] == pytest.approx(expected, rel=1e-12)
    assert result["expectancy_r"] == pytest.approx(expected, rel=1e-12)
    # Slippage does not touch limit fills: the same trade without slippage has the same R.
    _, same = one_trade(stub_detector, RUN, costs="binance_usdm", slippage_pct=0.0)
    assert same["r_multiple"] == trade["r_multiple"]
    assert result["costs"] == {
        "maker_fee_pct": 0.02,
        "taker_fee_pct": 0.05,
        "slippage_pct": 0.05,
        "risk_per_trade_pct": 1.0,
    }


def test_a_losing_stop_exit_pays_the_maker_fee_in_and_taker_fee_plus_slippage_out(stub_detector):
    result, trade = one_trade(stub_detector, FALL, costs="binance_usdm")
    assert (trade["exit_reason"], trade["exit_price"]) == ("stop", pytest.approx(STOP))
    expected = (STOP * (1 - 0.0005) * (1 - 0.0005) - ENTRY * (1 + 0.0002)) / RISK
    assert trade["r_multiple"] == pytest.approx(expected, rel=1e-12)
    assert trade["return_pct"] == pytest.approx(expected * 1.0, rel=1e-12)
    # Here slippage matters: a stop is a taker fill.
    _, no_slip = one_trade(stub_detector, FALL, costs="binance_usdm", slippage_pct=0.0)
    assert no_slip["r_multiple"] == pytest.approx((STOP * (1 - 0.0005) - ENTRY * (1 + 0.0002)) / RISK, rel=1e-12)
    assert no_slip["r_multiple"] > trade["r_multiple"]


def test_each_preset_gives_its_own_exact_r(stub_detector):
    for name, model in COST_PRESETS.items():
        result, trade = one_trade(stub_detector, RUN, costs=name)
        fee = model.maker_fee_pct / 100
        assert trade["r_multiple"] == pytest.approx((TARGET * (1 - fee) - ENTRY * (1 + fee)) / RISK, rel=1e-12), name
        assert result["costs"] == model.as_dict()
