"""Market regimes: causal (prefix invariance), ADX as the ta library computes it, trades tagged at their signal."""

import numpy as np
import pandas as pd
import pytest
import ta

from app.core.candles import read_candles_csv
from app.core.regimes import (
    LABELS,
    UNKNOWN,
    candle_regimes,
    current_regime,
    market_regimes,
    regime_metrics,
    regime_parameters,
    rolling_rank,
)
from app.evaluation.regime_evaluation import regime_sets
from tests.conftest import BUNDLED_DIR


@pytest.fixture(scope="module")
def candles():
    return read_candles_csv(BUNDLED_DIR / "BTC_USDT-4h.csv.gz")


def test_regimes_are_prefix_invariant(candles):
    full = candle_regimes(candles)
    labels = full.labels()
    rng = np.random.default_rng(5)
    for cut in sorted(rng.integers(300, len(candles), 12).tolist()) + [len(candles) - 1]:
        prefix = candle_regimes(candles.iloc[:cut])
        np.testing.assert_array_equal(prefix.volatility, full.volatility[:cut])
        np.testing.assert_array_equal(prefix.trend, full.trend[:cut])
        np.testing.assert_array_equal(prefix.labels(), labels[:cut])
        assert current_regime(candles.iloc[:cut])["regime"] == labels[cut - 1]


def test_every_label_occurs_and_warm_up_is_unknown(candles):
    labels = candle_regimes(candles).labels()
    assert set(labels[300:]) == set(LABELS)
    assert set(labels[:250]) == {UNKNOWN}


def test_adx_matches_the_ta_library(candles):
    ours = candle_regimes(candles).adx
    theirs = ta.trend.ADXIndicator(candles["high"], candles["low"], candles["close"], 14).adx().to_numpy()
    np.testing.assert_allclose(ours[100:], theirs[100:], atol=1e-9)


def test_volatility_follows_the_atr_percentile():
    calm = np.full(400, 100.0)
    wild = 100 + 10 * np.sin(np.arange(100))
    close = np.concatenate([calm + 0.1 * np.sin(np.arange(400)), wild])
    regimes = market_regimes(close + 0.5, close - 0.5 - np.r_[np.zeros(400), np.full(100, 5.0)], close)
    assert regimes.volatility[-1] == 2 and regimes.at(len(close) - 1)["volatility"] == "high"
    with pytest.raises(ValueError, match="window"):
        market_regimes(close, close, close, window=1)


def test_regime_metrics_sum_trades_up_per_label():
    summary = regime_metrics(["x", "x", "y", "x"], [1.0, -1.0, 0.5, 2.0])
    assert summary == {
        "x": {"trades": 3, "win_rate": pytest.approx(66.67), "expectancy_r": 0.6667, "total_r": 2.0},
        "y": {"trades": 1, "win_rate": 100.0, "expectancy_r": 0.5, "total_r": 0.5},
    }
    assert regime_metrics([], []) == {}


def test_a_regime_set_needs_enough_trades_and_positive_expectancy_there():
    def summary(position, **by_regime):
        return {"position": position, "params": {"p": position}, "by_regime": by_regime}

    def m(trades, expectancy):
        return {"trades": trades, "expectancy_r": expectancy}

    summaries = [
        summary(0, **{"high-trending": m(30, 0.1), "low-ranging": m(30, -0.2), "normal-ranging": m(5, 0.9)}),
        summary(1, **{"high-trending": m(30, 0.3), "low-ranging": m(30, -0.1), "normal-ranging": m(9, 0.9)}),
    ]
    sets = regime_sets(summaries, min_trades=10)
    assert set(sets) == {"high-trending"} and sets["high-trending"]["params"] == {"p": 1}


@pytest.mark.parametrize("window", [2, 7, 250])
def test_rolling_rank_is_pandas_rolling_rank_with_ties_and_gaps(window):
    values = np.round(np.random.default_rng(window).normal(size=1500), 1)  # rounded: many ties
    values[:13] = np.nan
    values[700:703] = np.nan
    expected = pd.Series(values).rolling(window, min_periods=window).rank(pct=True).to_numpy()
    np.testing.assert_allclose(rolling_rank(values, window), expected, rtol=0, atol=1e-12)


def test_regime_parameters_map_every_regime_to_one_distinct_set():
    base = {"rr_target": 2.0}
    sets = {
        "high-trending": {"params": {"rr_target": 3.0}},
        "low-ranging": {"params": {"rr_target": 3.0}},  # the same as high-trending's: one entry
        "normal-ranging": {"params": {"rr_target": 2.0}},  # the base's own: the base trades it
    }
    groups = regime_parameters(base, sets)
    assert [(g.params, g.regime) for g in groups] == [(base, None), ({"rr_target": 3.0}, "high-trending")]
    assert set(groups[1].labels) == {"high-trending", "low-ranging"}
    assert set(groups[0].labels) == {UNKNOWN, *LABELS} - {"high-trending", "low-ranging"}
    codes = np.array([-1, 0, 5, 1], np.int8)  # unknown, low-ranging, high-trending, low-trending
    index = np.array([0, 1, 2, 3])
    assert groups[0].trades_at(codes, index).tolist() == [True, False, False, True]
    assert groups[1].trades_at(codes, index).tolist() == [False, True, True, False]
    # Without regime sets (or only ``unknown``): the base trades every bar.
    for none in (None, {}, {UNKNOWN: {"params": {"rr_target": 9.0}}}):
        (only,) = regime_parameters(base, none)
        assert only.params == base and only.trades_at(codes, index).all()
