"""The lookahead guard catches leaky detectors and passes the real strategies (app.evaluation.validation.lookahead)."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.patterns import FVGDetector, PatternArrays, register_detector
from app.evaluation.validation import (
    check_prefix_invariance,
)
from app.strategies import INDICATOR, PATTERN, strategy_names
from tests.evaluation.validation.validation_helpers import (
    regime_candles,
)

# --------------------------------------------------------------------------- lookahead guard


class NextHighFVG(FVGDetector):
    """Leaky on purpose: a bullish zone's top reaches the NEXT candle's high."""

    def find_candidates(self, open_, high, low, close) -> PatternArrays:
        found = super().find_candidates(open_, high, low, close)
        nxt = np.minimum(found.index + 1, close.shape[0] - 1)
        has_next = found.index + 1 < close.shape[0]
        bull = found.direction > 0
        zone_high = np.where(bull & has_next, np.maximum(found.zone_high, high[nxt]), found.zone_high)
        return PatternArrays(index=found.index, direction=found.direction, zone_low=found.zone_low, zone_high=zone_high)


class EndShyFVG(FVGDetector):
    """Leaky on purpose: drops patterns in the last three bars (it 'knows' where the data ends)."""

    def find_candidates(self, open_, high, low, close) -> PatternArrays:
        found = super().find_candidates(open_, high, low, close)
        return found.take(found.index < close.shape[0] - 3)


@pytest.fixture
def swap_imbalance():
    """Register a detector class for 'imbalance' for one test and restore the production class afterwards."""
    saved = []

    def swap(cls):
        saved.append(register_detector("imbalance", cls))

    yield swap
    for previous in reversed(saved):
        register_detector("imbalance", previous)
    assert register_detector("imbalance", FVGDetector) is FVGDetector


@pytest.mark.parametrize("leaky", [NextHighFVG, EndShyFVG])
def test_guard_catches_a_leaky_detector(btc_4h, swap_imbalance, leaky):
    swap_imbalance(leaky)
    violations = check_prefix_invariance(btc_4h, strategy="imbalance")
    assert violations
    assert all(v.startswith("cut at bar ") for v in violations)
    if leaky is NextHighFVG:
        assert any("zone_high" in v for v in violations)
    else:
        assert any("missing from the prefix" in v for v in violations)


@pytest.mark.parametrize("use_overlap", [True, False])
@pytest.mark.parametrize("strategy", strategy_names(PATTERN))
def test_guard_passes_the_real_detectors(btc_4h, strategy, use_overlap):
    assert check_prefix_invariance(btc_4h, strategy=strategy, params={"use_overlap": use_overlap}, seed=5) == []


def test_guard_reports_a_crash_on_a_prefix(swap_imbalance):
    class Fragile(FVGDetector):
        def find_candidates(self, open_, high, low, close) -> PatternArrays:
            if close.shape[0] < 10:
                raise RuntimeError("too short")
            return super().find_candidates(open_, high, low, close)

    swap_imbalance(Fragile)
    frame = regime_candles(["runner"] * 3)
    violations = check_prefix_invariance(frame, strategy="imbalance", n_cuts=5)
    assert any("raised RuntimeError" in v for v in violations)


@pytest.mark.parametrize("strategy", strategy_names(INDICATOR))
def test_guard_passes_the_indicator_strategies(btc_4h, strategy):
    assert check_prefix_invariance(btc_4h, strategy=strategy, seed=5) == []
