"""Causality: detecting on a prefix gives exactly the full run's patterns up to that bar (real BTC 1h data)."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.patterns import DETECTOR_CLASSES, get_detector

PATTERN_TYPES = tuple(DETECTOR_CLASSES)

N_CUTS = 25


def cut_points(n: int) -> list[int]:
    rng = np.random.default_rng(20240601)
    edges = [0, 1, 2, 3, 5, 6, 11, 12, n // 2, n - 3, n - 2, n - 1]
    return sorted(set(edges) | set(rng.integers(0, n, N_CUTS).tolist()))


@pytest.mark.parametrize("skip_overlap", [False, True], ids=["overlap", "no_overlap"])
@pytest.mark.parametrize("pattern_type", PATTERN_TYPES)
def test_prefix_invariance(btc_1h, pattern_type, skip_overlap):
    det = get_detector(pattern_type)
    full = det.detect_historical(btc_1h, skip_overlap=skip_overlap)
    assert len(full) > 100  # the check is meaningless on an empty answer
    indices = np.array([p["index"] for p in full])
    for k in cut_points(len(btc_1h)):
        prefix = det.detect_historical(btc_1h.iloc[: k + 1], skip_overlap=skip_overlap)
        expected = full[: int(np.searchsorted(indices, k, side="right"))]
        assert prefix == expected, f"{pattern_type} differs when cut at bar {k}"


@pytest.mark.parametrize("pattern_type", PATTERN_TYPES)
def test_prefix_invariance_with_small_expiry_and_swings(btc_1h, pattern_type):
    det = get_detector(pattern_type, swing_length=2, expiry_bars=7, min_zone_pct=0.05)
    df = btc_1h.iloc[:6000]
    full = det.detect_historical(df)
    indices = np.array([p["index"] for p in full])
    for k in cut_points(len(df)):
        expected = full[: int(np.searchsorted(indices, k, side="right"))]
        assert det.detect_historical(df.iloc[: k + 1]) == expected
