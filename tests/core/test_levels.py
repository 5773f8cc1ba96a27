"""Trade levels: every entry_method x tp_method in both directions, production TP1-3."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.candles import read_candles_csv
from app.core.indicators import wilder_atr
from app.core.levels import (
    ENTRY_METHODS,
    TP_METHODS,
    compute_levels,
    production_level_arrays,
    production_levels,
)
from app.core.patterns import BEARISH, BULLISH, PatternArrays, get_detector
from tests.conftest import BUNDLED_DIR

DATA = BUNDLED_DIR
C = 300.0  # mirror level for the bearish cases (all prices are binary-exact, so mirroring is exact)
N = 30


def market():
    """Highs with swing highs (length 2) 112@3, 109.5@7 (broken by 110@11), 110@11, 108.5@15 (broken at 18),
    109.8@18 (confirmed at 20), and future swings 109.2@22, 115@25 that no level at bar 20 may see."""
    high = np.full(N, 101.0)
    for j, v in {3: 112.0, 7: 109.5, 11: 110.0, 15: 108.5, 18: 109.8, 22: 109.2, 25: 115.0}.items():
        high[j] = v
    low = np.full(N, 99.0)
    close = np.full(N, 100.0)
    atr = np.full(N, 2.0)
    return high, low, close, atr


def levels(direction, zone, index, entry_method, tp_method, *, sl=25.0, rr=2.0, mirror=False, atr=None):
    high, low, close, atr_ = market()
    atr = atr_ if atr is None else atr
    if mirror:
        high, low, close = C - low, C - high, C - close
    pats = PatternArrays.from_arrays(index=[index], direction=[direction], zone_low=[zone[0]], zone_high=[zone[1]])
    lv = compute_levels(
        patterns=pats,
        high=high,
        low=low,
        close=close,
        atr=atr,
        entry_method=entry_method,
        sl_buffer_pct=sl,
        tp_method=tp_method,
        rr_target=rr,
        swing_length=2,
    )
    return lv.entry[0], lv.stop[0], lv.target[0]


# Bullish zone [100, 104] at bar 20, sl_buffer 25 % -> stop 99; ATR 2. Unbroken confirmed swings at 20: 112, 110, 109.8.
EXPECTED = {
    ("zone_edge", "fixed_rr"): (104.0, 99.0, 114.0),  # R 5
    ("zone_edge", "atr_multiple"): (104.0, 99.0, 108.0),
    ("zone_edge", "swing_target"): (104.0, 99.0, 109.8),  # >= 109, nearest
    ("zone_mid", "fixed_rr"): (102.0, 99.0, 108.0),  # R 3
    ("zone_mid", "atr_multiple"): (102.0, 99.0, 106.0),
    ("zone_mid", "swing_target"): (102.0, 99.0, 109.8),  # >= 105, nearest
    ("atr_buffer", "fixed_rr"): (104.2, 99.0, 114.6),  # R 5.2
    ("atr_buffer", "atr_multiple"): (104.2, 99.0, 108.2),
    ("atr_buffer", "swing_target"): (104.2, 99.0, 109.8),  # >= 109.4
}


@pytest.mark.parametrize("tp_method", TP_METHODS)
@pytest.mark.parametrize("entry_method", ENTRY_METHODS)
def test_bullish_levels(entry_method, tp_method):
    got = levels(BULLISH, (100.0, 104.0), 20, entry_method, tp_method)
    assert got == pytest.approx(EXPECTED[(entry_method, tp_method)], rel=1e-12)


@pytest.mark.parametrize("tp_method", TP_METHODS)
@pytest.mark.parametrize("entry_method", ENTRY_METHODS)
def test_bearish_levels_mirror_bullish(entry_method, tp_method):
    got = levels(BEARISH, (C - 104.0, C - 100.0), 20, entry_method, tp_method, mirror=True)
    expected = tuple(C - v for v in EXPECTED[(entry_method, tp_method)])
    assert got == pytest.approx(expected, rel=1e-12)


def test_bearish_levels_explicit_numbers():
    # zone [196, 200]: entry at zone_low 196, stop 200 + 1 = 201, R 5, 2R below -> 186
    assert levels(BEARISH, (196.0, 200.0), 20, "zone_edge", "fixed_rr", mirror=True) == (196.0, 201.0, 186.0)
    assert levels(BEARISH, (196.0, 200.0), 20, "atr_buffer", "atr_multiple", mirror=True) == pytest.approx(
        (195.8, 201.0, 191.8), rel=1e-12
    )


def test_swing_target_exactly_one_r_away_counts_and_unconfirmed_swings_do_not():
    # At bar 17 the swing 108.5 (pivot 15) is confirmed; zone [100, 105], no buffer: entry 105, R 5 -> >= 110.
    assert levels(BULLISH, (100.0, 105.0), 17, "zone_edge", "swing_target", sl=0.0) == (105.0, 100.0, 110.0)
    # At bar 19 the 109.8 swing (pivot 18) is not confirmed yet and 108.5 was broken at bar 18.
    assert levels(BULLISH, (100.0, 104.0), 19, "zone_edge", "swing_target") == (104.0, 99.0, 110.0)


def test_swing_target_falls_back_to_fixed_rr():
    # entry 108, R 8: needs a swing >= 116, there is none (112 is the highest)
    assert levels(BULLISH, (100.0, 108.0), 20, "zone_edge", "swing_target", sl=0.0) == (108.0, 100.0, 124.0)


def test_broken_swing_is_not_a_target():
    # zone [100, 104.25], no buffer: entry 104.25, R 4.25 -> >= 108.5; 108.5 itself was broken at bar 18
    assert levels(BULLISH, (100.0, 104.25), 20, "zone_edge", "swing_target", sl=0.0) == (104.25, 100.0, 109.8)


def test_nan_atr_skips_atr_setups_only():
    atr = np.full(N, np.nan)
    assert np.isnan(levels(BULLISH, (100.0, 104.0), 20, "atr_buffer", "fixed_rr", atr=atr)).all()
    assert np.isnan(levels(BULLISH, (100.0, 104.0), 20, "zone_edge", "atr_multiple", atr=atr)).all()
    assert levels(BULLISH, (100.0, 104.0), 20, "zone_edge", "fixed_rr", atr=atr) == (104.0, 99.0, 114.0)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"entry_method": "market"}, "entry_method"),
        ({"tp_method": "moon"}, "tp_method"),
        ({"rr_target": 0.0}, "rr_target"),
        ({"sl_buffer_pct": -1.0}, "sl_buffer_pct"),
    ],
)
def test_invalid_parameters_name_the_argument(kwargs, name):
    high, low, close, atr = market()
    params = {"entry_method": "zone_edge", "sl_buffer_pct": 0.0, "tp_method": "fixed_rr", "rr_target": 2.0} | kwargs
    with pytest.raises(ValueError, match=name):
        compute_levels(
            patterns=PatternArrays.empty(), high=high, low=low, close=close, atr=atr, swing_length=2, **params
        )


def production(**kw):
    high, low, close, atr = market()
    params = {"direction": "bullish", "zone_low": 100.0, "zone_high": 104.0, "index": 20, "sl_buffer_pct": 25.0}
    return production_levels(high=high, low=low, close=close, atr=atr, swing_length=2, **(params | kw)).as_dict()


def test_production_tp3_is_next_swing_beyond_tp2():
    # entry 104, stop 99, R 5: TP1 109, TP2 (1R) 109, next swing strictly above 109 -> 109.8
    assert production(rr_target=1.0) == {"entry": 104.0, "stop_loss": 99.0, "tp1": 109.0, "tp2": 109.0, "tp3": 109.8}
    # swing_target TP2 = 109.8; the next unbroken swing strictly beyond it is 110
    assert production(tp_method="swing_target")["tp3"] == 110.0


def test_production_tp3_falls_back_to_one_and_a_half_tp2_distance():
    # TP2 = 114 (2R); no swing above 114 -> 104 + 1.5 x 10
    assert production(rr_target=2.0) == {"entry": 104.0, "stop_loss": 99.0, "tp1": 109.0, "tp2": 114.0, "tp3": 119.0}


def test_production_bearish():
    high, low, close, atr = market()
    got = production_levels(
        direction=BEARISH,
        zone_low=196.0,
        zone_high=200.0,
        index=20,
        high=C - low,
        low=C - high,
        close=C - close,
        atr=atr,
        sl_buffer_pct=25.0,
        rr_target=1.0,
        swing_length=2,
    )
    assert got.as_dict() == {"entry": 196.0, "stop_loss": 201.0, "tp1": 191.0, "tp2": 191.0, "tp3": C - 109.8}


def test_production_level_arrays_vectorized_rows():
    high, low, close, atr = market()
    atr[:14] = np.nan
    pats = PatternArrays.from_arrays(
        index=[10, 20, 20], direction=[1, 1, 1], zone_low=[100.0, 100.0, 100.0], zone_high=[104.0, 104.0, 108.0]
    )
    got = production_level_arrays(
        patterns=pats,
        high=high,
        low=low,
        close=close,
        atr=atr,
        entry_method="atr_buffer",
        sl_buffer_pct=0.0,
        tp_method="fixed_rr",
        rr_target=1.0,
        swing_length=2,
    )
    # row 0: ATR NaN at bar 10 -> skipped; row 1: entry 104.2, R 4.2, TP2 108.4 -> TP3 next swing 109.8;
    # row 2: entry 108.2, R 8.2, TP2 116.4 -> no swing above -> 108.2 + 1.5 x 8.2
    assert all(np.isnan(values[0]) for values in got.values())
    assert [got[k][1] for k in ("entry", "stop_loss", "tp1", "tp2", "tp3")] == pytest.approx(
        [104.2, 100.0, 108.4, 108.4, 109.8], rel=1e-12
    )
    assert got["tp3"][2] == pytest.approx(108.2 + 1.5 * 8.2, rel=1e-12)


@pytest.mark.parametrize("entry_method", ENTRY_METHODS)
@pytest.mark.parametrize("tp_method", TP_METHODS)
def test_levels_use_no_future_candles(entry_method, tp_method):
    df = read_candles_csv(DATA / "BTC_USDT-1h.csv.gz").iloc[:5000]
    h, lo, c = (df[k].to_numpy() for k in ("high", "low", "close"))
    o = df["open"].to_numpy()
    params = {"entry_method": entry_method, "sl_buffer_pct": 10.0, "tp_method": tp_method, "rr_target": 2.0}

    def run(k):
        pats = get_detector("order_block").find(o[: k + 1], h[: k + 1], lo[: k + 1], c[: k + 1], use_overlap=False)
        atr = wilder_atr(h[: k + 1], lo[: k + 1], c[: k + 1])
        lv = compute_levels(patterns=pats, high=h[: k + 1], low=lo[: k + 1], close=c[: k + 1], atr=atr, **params)
        return pats.index, np.column_stack([lv.entry, lv.stop, lv.target])

    full_idx, full = run(len(df) - 1)
    assert np.isfinite(full[20:]).all()
    for k in (30, 700, 1999, 3333, 4500):
        idx, part = run(k)
        np.testing.assert_array_equal(part, full[: len(idx)])
        assert (idx == full_idx[: len(idx)]).all()
