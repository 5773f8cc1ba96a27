"""Registry lookups and the purity rule for the pattern modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.services.patterns import (
    PATTERN_TYPES,
    FVGDetector,
    LiquiditySweepDetector,
    OrderBlockDetector,
    PatternDetector,
    get_detector,
    register_detector,
)

REPO = Path(__file__).resolve().parents[2]


def test_pattern_types_map_to_detectors():
    assert PATTERN_TYPES == ("imbalance", "order_block", "liquidity_sweep")
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


def test_pure_modules_import_neither_flask_nor_sqlalchemy():
    code = (
        "import sys; import app.services.patterns, app.services.trade_levels; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('flask', 'sqlalchemy', 'flask_sqlalchemy')]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
