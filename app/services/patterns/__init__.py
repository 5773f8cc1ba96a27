"""Smart-money pattern detectors: FVG ('imbalance'), order blocks, liquidity sweeps.

Pure package (no Flask, no SQLAlchemy); ``PatternDetector.detect`` lazily
imports the DB scanner only when called.
"""

from app.services.patterns.base import (
    BEARISH,
    BULLISH,
    DEFAULT_EXPIRY_BARS,
    DEFAULT_SWING_LENGTH,
    MIN_ZONE_PERCENT,
    OVERLAP_THRESHOLD,
    STATUS_NAMES,
    PatternArrays,
    PatternDetector,
    zone_status,
    zone_statuses,
)
from app.services.patterns.fair_value_gap import FVGDetector
from app.services.patterns.liquidity import LiquiditySweepDetector
from app.services.patterns.order_block import OrderBlockDetector
from app.services.patterns.registry import PATTERN_TYPES, get_detector, register_detector

__all__ = [
    "BEARISH",
    "BULLISH",
    "DEFAULT_EXPIRY_BARS",
    "DEFAULT_SWING_LENGTH",
    "MIN_ZONE_PERCENT",
    "OVERLAP_THRESHOLD",
    "PATTERN_TYPES",
    "STATUS_NAMES",
    "FVGDetector",
    "LiquiditySweepDetector",
    "OrderBlockDetector",
    "PatternArrays",
    "PatternDetector",
    "get_detector",
    "register_detector",
    "zone_status",
    "zone_statuses",
]
