"""Smart-money confirmation: the rule on hand-built zones, a plain-Python reference on real candles, causality."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.engine import METRIC_NAMES
from app.core.patterns import PatternArrays, active_until, get_detector
from app.evaluation.backtest import market_arrays, run_backtest, run_backtest_grid
from app.evaluation.validation.lookahead import check_prefix_invariance
from app.strategies import ParameterError, get_strategy
from app.strategies.smart_money import SMART_MONEY_KINDS, confirmed
from tests.conftest import make_candles

# Twelve quiet candles around 100; bar 9 dips to 97.5 and closes at 100.
ROWS = [(100.0, 101.0, 99.0, 100.0)] * 12
ROWS[9] = (100.0, 101.0, 97.5, 100.0)
# A bullish zone 97-98 detected at bar 5 and a bearish zone 102-103 detected at bar 6.
ZONES = PatternArrays.from_arrays(index=[5, 6], direction=[1, -1], zone_low=[97.0, 102.0], zone_high=[98.0, 103.0])


def verdicts(rows, zones, *, index, direction, lookback=10, expiry_bars=100):
    market = market_arrays(make_candles(rows))
    end = active_until(zones, close=market.close, expiry_bars=expiry_bars)
    mask = confirmed(
        market,
        index=np.asarray(index),
        direction=np.asarray(direction),
        kind="fvg",
        lookback=lookback,
        zones_of=lambda _: (zones, end),
    )
    return mask.tolist()


def test_a_long_on_a_retest_of_an_active_bullish_zone_is_confirmed():
    # Bar 9's low (97.5) reaches the zone's top (98); bar 8's low (99) does not; a short needs a bearish zone.
    assert verdicts(ROWS, ZONES, index=[8, 9, 9], direction=[1, 1, -1]) == [False, True, False]


def test_the_zone_must_be_detected_within_the_lookback_and_before_the_signal():
    assert verdicts(ROWS, ZONES, index=[9], direction=[1], lookback=4) == [True]  # 9 - 5 = 4
    assert verdicts(ROWS, ZONES, index=[9], direction=[1], lookback=3) == [False]
    same_bar = PatternArrays.from_arrays(index=[9], direction=[1], zone_low=[97.0], zone_high=[98.0])
    assert verdicts(ROWS, same_bar, index=[9], direction=[1]) == [False]  # known only at the signal's close


def test_a_zone_closed_through_or_expired_no_longer_confirms():
    broken = list(ROWS)
    broken[7] = (100.0, 100.5, 96.0, 96.5)  # a close below zone_low: invalidated at bar 7
    assert verdicts(broken, ZONES, index=[9], direction=[1]) == [False]
    closes_through = list(ROWS)
    closes_through[9] = (100.0, 101.0, 96.0, 96.8)  # the signal candle itself closes below the zone
    assert verdicts(closes_through, ZONES, index=[9], direction=[1]) == [False]
    assert verdicts(ROWS, ZONES, index=[9], direction=[1], expiry_bars=3) == [False]  # 9 - 5 > 3
    assert verdicts(ROWS, ZONES, index=[9], direction=[1], expiry_bars=4) == [True]


def test_a_short_on_a_retest_of_an_active_bearish_zone_is_confirmed():
    rows = list(ROWS)
    rows[10] = (100.0, 102.2, 99.0, 100.0)  # the high reaches the bearish zone's bottom (102)
    assert verdicts(rows, ZONES, index=[10, 10], direction=[-1, 1]) == [True, False]


def reference_confirmed(frame, setups, *, kind, lookback):
    """Plain Python: for each signal, look at every zone of its side and replay closes candle by candle."""
    o, h, lo, c = (frame[k].to_numpy() for k in ("open", "high", "low", "close"))
    found = []
    for pattern_type in SMART_MONEY_KINDS[kind]:
        detector = get_detector(pattern_type)
        zones = detector.find(o, h, lo, c)
        rows = zip(zones.index, zones.direction, zones.zone_low, zones.zone_high, strict=True)
        found += [(int(d), int(s), a, b, detector.expiry_bars) for d, s, a, b in rows]
    keep = []
    for t, side in zip(setups.index.tolist(), setups.direction.tolist(), strict=True):
        ok = False
        for d, zone_side, zone_low, zone_high, expiry in found:
            if zone_side != side or not 1 <= t - d <= lookback or t - d > expiry:
                continue
            beyond = [c[s] < zone_low if side > 0 else c[s] > zone_high for s in range(d + 1, t + 1)]
            reached = lo[t] <= zone_high if side > 0 else h[t] >= zone_low
            ok = ok or (not any(beyond) and reached)
        keep.append(ok)
    return np.asarray(keep)


@pytest.mark.parametrize("name", ["ema_cross", "macd"])
@pytest.mark.parametrize(("kind", "lookback"), [("fvg", 20), ("order_block", 50), ("sweep", 50), ("any", 10)])
def test_confirmed_signals_match_a_plain_python_reference(btc_4h, name, kind, lookback):
    strategy = get_strategy(name)
    market = market_arrays(btc_4h)
    base = {"ema_config": "scalping"} if name == "ema_cross" else {}  # the most signals: every kind confirms some
    every = strategy.setups(market, strategy.space.validate(base))
    confirm = {"smart_money": kind, "smart_money_lookback": lookback}
    kept = strategy.setups(market, strategy.space.validate({**base, **confirm}))
    expected = reference_confirmed(btc_4h, every, kind=kind, lookback=lookback)
    assert kept.index.tolist() == every.index[expected].tolist()
    assert 0 < len(kept) < len(every)


@pytest.mark.parametrize("name", ["ema_cross", "macd"])
def test_grid_rows_with_confirmation_equal_single_runs_bit_for_bit(btc_4h, name):
    strategy = get_strategy(name)
    combos = strategy.space.expand(strategy.space.preset("smart_money"))
    grid = run_backtest_grid(btc_4h, strategy=name, combinations=combos)
    for k in np.random.default_rng(3).choice(len(combos), size=10, replace=False):
        single = run_backtest(btc_4h, strategy=name, params=combos[k])
        assert [single[m] for m in METRIC_NAMES] == [grid.iloc[int(k)][m].item() for m in METRIC_NAMES]
    assert {c["smart_money"] for c in combos} == set(SMART_MONEY_KINDS)


@pytest.mark.parametrize("name", ["ema_cross", "macd"])
def test_confirmation_is_causal(btc_4h, name):
    params = {"smart_money": "any", "smart_money_lookback": 50}
    assert check_prefix_invariance(btc_4h, strategy=name, params=params, seed=2) == []


def test_a_lookback_without_confirmation_is_refused():
    space = get_strategy("macd").space
    with pytest.raises(ParameterError, match="smart_money_lookback stays 20"):
        space.validate({"smart_money": "off", "smart_money_lookback": 30})
    assert space.grid_size(space.validate_grid({"smart_money": ["off", "fvg"], "smart_money_lookback": [20, 30]})) == 3
    with pytest.raises(ParameterError):
        space.validate({"smart_money": "fvg_and_more"})
