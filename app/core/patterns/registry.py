"""Map pattern_type names to detector classes (pure: no Flask, no SQLAlchemy).

Everything that receives a pattern-type name goes through ``get_detector``.
Tests swap a detector in with ``register_detector`` and restore the returned
previous class afterwards.
"""

from __future__ import annotations

from app.core.patterns.base import PatternDetector
from app.core.patterns.fair_value_gap import FVGDetector
from app.core.patterns.liquidity import LiquiditySweepDetector
from app.core.patterns.order_block import OrderBlockDetector

# Each registered detector is traded as a pattern strategy of the same name (app.strategies.patterns).
DETECTOR_CLASSES: dict[str, type[PatternDetector]] = {
    "imbalance": FVGDetector,
    "order_block": OrderBlockDetector,
    "liquidity_sweep": LiquiditySweepDetector,
}


def register_detector(pattern_type: str, cls: type[PatternDetector]) -> type[PatternDetector] | None:
    """Register ``cls`` for ``pattern_type`` and return the class it replaces (None if new)."""
    if not isinstance(cls, type) or not issubclass(cls, PatternDetector):
        raise TypeError(f"detector for '{pattern_type}' must be a PatternDetector subclass, got {cls!r}")
    previous = DETECTOR_CLASSES.get(pattern_type)
    DETECTOR_CLASSES[pattern_type] = cls
    return previous


def get_detector(pattern_type: str, **params: object) -> PatternDetector:
    """Return a new detector for ``pattern_type``, built with ``params`` (thresholds).

    Raises ValueError naming the known types for an unknown name.
    """
    return detector_class(pattern_type)(**params)


def detector_class(pattern_type: str) -> type[PatternDetector]:
    """Return the registered class for ``pattern_type`` (ValueError naming the known types)."""
    try:
        return DETECTOR_CLASSES[pattern_type]
    except (KeyError, TypeError):
        known = ", ".join(DETECTOR_CLASSES)
        raise ValueError(f"unknown pattern_type {pattern_type!r} (known: {known})") from None
