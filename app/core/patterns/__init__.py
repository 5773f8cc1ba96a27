"""Smart-money pattern detectors: FVG ('imbalance'), order blocks, liquidity sweeps.

Pure package (no Flask, no SQLAlchemy). The production path that persists
what these find is ``app.services.scanning.pattern_scanner``.
"""

from app.core.patterns.base import (
    BEARISH,
    BULLISH,
    DEFAULT_EXPIRY_BARS,
    DEFAULT_SWING_LENGTH,
    MIN_ZONE_PERCENT,
    OVERLAP_THRESHOLD,
    STATUS_NAMES,
    PatternArrays,
    PatternDetector,
    active_until,
    zone_status,
    zone_statuses,
)
from app.core.patterns.fair_value_gap import FVGDetector
from app.core.patterns.liquidity import LiquiditySweepDetector
from app.core.patterns.order_block import OrderBlockDetector
from app.core.patterns.registry import DETECTOR_CLASSES, get_detector, register_detector

__all__ = [
    "BEARISH",
    "BULLISH",
    "DETECTOR_CLASSES",
    "DEFAULT_EXPIRY_BARS",
    "DEFAULT_SWING_LENGTH",
    "MIN_ZONE_PERCENT",
    "OVERLAP_THRESHOLD",
    "STATUS_NAMES",
    "FVGDetector",
    "LiquiditySweepDetector",
    "OrderBlockDetector",
    "PatternArrays",
    "PatternDetector",
    "active_until",
    "get_detector",
    "register_detector",
    "zone_status",
    "zone_statuses",
]
