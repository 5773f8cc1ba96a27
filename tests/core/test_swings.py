"""Swings (app.core.indicators): pivots strictly beyond L bars each side, known L bars later."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.indicators import confirmed_at, swing_highs, swing_lows

HIGH = np.array([1.0, 2.0, 5.0, 3.0, 4.0, 3.5, 2.0, 6.0, 6.0, 1.0, 0.5])


def test_swing_high_needs_strictly_greater_than_length_bars_each_side():
    assert np.flatnonzero(swing_highs(HIGH, 2)).tolist() == [2]  # 7 and 8 tie: neither is a swing
    assert np.flatnonzero(swing_highs(HIGH, 1)).tolist() == [2, 4]


def test_swing_low_mirrors_swing_high():
    assert np.flatnonzero(swing_lows(-HIGH, 2)).tolist() == [2]


def test_swing_is_known_only_at_pivot_plus_length():
    j, length = 2, 2
    assert not swing_highs(HIGH[: j + length], length)[j]
    assert swing_highs(HIGH[: j + length + 1], length)[j]
    assert confirmed_at(np.array([j]), length).tolist() == [4]


def test_length_must_be_positive():
    with pytest.raises(ValueError, match="length"):
        swing_highs(HIGH, 0)
