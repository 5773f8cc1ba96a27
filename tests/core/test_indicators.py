"""Indicator values equal independent implementations: pandas references written here and the ``ta`` library."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ta.momentum import RSIIndicator
from ta.trend import MACD, EMAIndicator

from app.core.candles import read_candles_csv
from app.core.indicators import ema, last_swing_levels, macd, rsi, swing_lows, wilder_atr
from tests.conftest import BUNDLED_DIR

BUNDLED = BUNDLED_DIR / "BTC_USDT-1h.csv.gz"
RTOL = 1e-9


@pytest.fixture(scope="module")
def close() -> pd.Series:
    return read_candles_csv(BUNDLED)["close"]


def pandas_ema(series: pd.Series, period: int) -> pd.Series:
    return series.ewm(span=period, adjust=False).mean()


def pandas_wilder_rsi(close: pd.Series, period: int = 14) -> pd.Series:
    """Classic Wilder RSI: simple-mean seed of the first ``period`` changes, then alpha = 1 / period."""
    change = close.diff()
    gain, loss = change.clip(lower=0.0), (-change).clip(lower=0.0)
    out = []
    for part in (gain, loss):
        seeded = part.iloc[period:].copy()
        seeded.iloc[0] = part.iloc[1 : period + 1].mean()
        out.append(seeded.ewm(alpha=1.0 / period, adjust=False).mean())
    avg_gain, avg_loss = out
    rsi_values = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    return rsi_values.reindex(close.index)


def assert_close(actual: np.ndarray, expected: np.ndarray, *, atol: float = 0.0) -> None:
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=atol)


@pytest.mark.parametrize("period", [5, 9, 12, 21, 26, 50, 89, 200])
def test_ema_equals_pandas_ewm_and_ta(close, period):
    values = ema(close.to_numpy(), period)
    assert_close(values, pandas_ema(close, period).to_numpy())
    # ta reports the EMA from bar period - 1 (min_periods = period): the same numbers from there on.
    reference = EMAIndicator(close, window=period).ema_indicator().to_numpy()
    assert np.isnan(reference[: period - 1]).all()
    assert_close(values[period - 1 :], reference[period - 1 :])


def test_ema_is_seeded_with_the_first_value():
    values = ema(np.array([10.0, 20.0, 20.0]), 3)  # alpha 0.5
    assert values.tolist() == [10.0, 15.0, 17.5]


def test_rsi_equals_a_pandas_wilder_reference_and_ta_after_the_seed_decays(close):
    values = rsi(close.to_numpy())
    assert np.isnan(values[:14]).all() and not np.isnan(values[14:]).any()
    assert_close(values, pandas_wilder_rsi(close).to_numpy())
    # ta seeds the same recursion with 0 at bar 0; its weight decays as (13/14)^t (< 1e-12 by bar 400).
    reference = RSIIndicator(close, window=14).rsi().to_numpy()
    assert_close(values[400:], reference[400:])
    assert np.nanmax(np.abs(values[14:40] - reference[14:40])) > 1e-6  # the seeds do differ early on


def test_rsi_edge_cases():
    rising = np.arange(1.0, 31.0)
    assert (rsi(rising)[14:] == 100.0).all()
    assert (rsi(np.full(30, 5.0))[14:] == 50.0).all()


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (12, 24, 8), (8, 21, 5), (5, 35, 5)])
def test_macd_equals_pandas_and_ta(close, fast, slow, signal):
    line, signal_line, hist = macd(close.to_numpy(), fast=fast, slow=slow, signal=signal)
    # Differences of EMAs pass through zero: compare against the price scale, 1e-9 of the mean close.
    atol = RTOL * float(close.mean())
    ref_line = pandas_ema(close, fast) - pandas_ema(close, slow)
    ref_line[: slow - 1] = np.nan
    ref_signal = ref_line.ewm(span=signal, adjust=False).mean()  # pandas starts at the first valid value
    assert_close(line, ref_line.to_numpy(), atol=atol)
    assert_close(signal_line, ref_signal.to_numpy(), atol=atol)
    assert_close(hist, (ref_line - ref_signal).to_numpy(), atol=atol)
    lib = MACD(close, window_slow=slow, window_fast=fast, window_sign=signal)
    start = slow + signal - 2  # where ta (min_periods) reports the signal line
    assert_close(line[start:], lib.macd().to_numpy()[start:], atol=atol)
    assert_close(signal_line[start:], lib.macd_signal().to_numpy()[start:], atol=atol)
    assert_close(hist[start:], lib.macd_diff().to_numpy()[start:], atol=atol)


def reference_atr(high, low, close, period=14):
    """Wilder's ATR in plain Python."""
    out = [float("nan")] * len(close)
    trs = []
    for t in range(len(close)):
        if t == 0:
            trs.append(high[0] - low[0])
        else:
            trs.append(max(high[t] - low[t], abs(high[t] - close[t - 1]), abs(low[t] - close[t - 1])))
    if len(close) < period:
        return out
    atr = sum(trs[:period]) / period
    out[period - 1] = atr
    for t in range(period, len(close)):
        atr = (atr * (period - 1) + trs[t]) / period
        out[t] = atr
    return out


def test_wilder_atr_matches_plain_python_reference():
    df = read_candles_csv(BUNDLED_DIR / "BTC_USDT-4h.csv.gz").iloc[:3000]
    h, lo, c = (df[k].to_numpy() for k in ("high", "low", "close"))
    got = wilder_atr(h, lo, c)
    assert np.isnan(got[:13]).all() and np.isfinite(got[13:]).all()
    np.testing.assert_allclose(got, reference_atr(h.tolist(), lo.tolist(), c.tolist()), rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(wilder_atr(h, lo, c, 5), reference_atr(h, lo, c, 5), rtol=1e-12, equal_nan=True)


def test_wilder_atr_uses_previous_close_gap():
    high = np.array([10.0, 12.0, 13.0])
    low = np.array([9.0, 11.0, 12.0])
    close = np.array([9.5, 11.5, 12.5])
    # TR = 1, max(1, 2.5, 1.5) = 2.5, max(1, 1.5, 0.5) = 1.5 -> mean of first 2 = 1.75, then (1.75 + 1.5) / 2
    np.testing.assert_allclose(wilder_atr(high, low, close, 2), [np.nan, 1.75, 1.625], equal_nan=True)
    assert np.isnan(wilder_atr(high, low, close, 14)).all()


def test_last_swing_low_is_confirmed_before_use_and_prefix_invariant():
    frame = read_candles_csv(BUNDLED).iloc[:3000]
    h, lo = frame["high"].to_numpy(), frame["low"].to_numpy()
    last_low, last_high = last_swing_levels(h, lo, 5)
    pivots = np.flatnonzero(swing_lows(lo, 5))
    for t in (100, 777, 2999):
        known = pivots[pivots + 5 <= t]
        assert last_low[t] == lo[known[-1]]
    for k in (200, 1500):
        part_low, part_high = last_swing_levels(h[: k + 1], lo[: k + 1], 5)
        np.testing.assert_array_equal(part_low, last_low[: k + 1])
        np.testing.assert_array_equal(part_high, last_high[: k + 1])
