"""Registry lookups: the detector registry and the strategy registry name the same pattern types."""

from __future__ import annotations

import pytest

from app.core.patterns import (
    DETECTOR_CLASSES,
    FVGDetector,
    LiquiditySweepDetector,
    OrderBlockDetector,
    PatternDetector,
    get_detector,
    register_detector,
)
from app.strategies import PATTERN, get_strategy, strategy_names

PATTERN_TYPES = ("imbalance", "order_block", "liquidity_sweep")


def test_pattern_types_map_to_detectors():
    # The registry is the one source: the pattern strategies are exactly the registered detector types.
    assert tuple(DETECTOR_CLASSES) == PATTERN_TYPES
    assert strategy_names(PATTERN) == PATTERN_TYPES
    assert [get_strategy(pt).kind for pt in PATTERN_TYPES] == [PATTERN] * 3
    classes = [type(get_detector(pt)) for pt in PATTERN_TYPES]
    assert classes == [FVGDetector, OrderBlockDetector, LiquiditySweepDetector]
    assert [get_detector(pt).pattern_type for pt in PATTERN_TYPES] == list(PATTERN_TYPES)


def test_params_reach_the_detector():
    det = get_detector("order_block", min_zone_pct=0.3, swing_length=7, expiry_bars=50, overlap_threshold=0.5)
    assert (det.min_zone_pct, det.swing_length, det.expiry_bars, det.overlap_threshold) == (0.3, 7, 50, 0.5)


def test_unknown_type_names_the_known_ones():
    with pytest.raises(ValueError, match="imbalance, order_block, liquidity_sweep"):
        get_detector("fvg")


def test_register_detector_swaps_and_restores():
    class Stub(PatternDetector):
        pattern_type = "imbalance"

    previous = register_detector("imbalance", Stub)
    try:
        assert previous is FVGDetector
        assert type(get_detector("imbalance")) is Stub
    finally:
        register_detector("imbalance", previous)
    assert type(get_detector("imbalance")) is FVGDetector


def test_register_rejects_non_detectors():
    with pytest.raises(TypeError):
        register_detector("imbalance", object)
