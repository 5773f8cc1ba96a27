"""Shared fixtures of the strategy tests: hand-built candles on which both indicator strategies signal."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import make_candles


def _flat(price: float) -> tuple[float, float, float, float]:
    return (price, price + 0.5, price - 0.5, price)


def crossing_rows() -> list[tuple[float, float, float, float]]:
    """Candles on which ema_cross (scalping 5/13/50) and macd (12/26/9) both signal at bars 60, 70 and 80.

    60: a jump to 125 (long; entry open[61] = 125); 64: high 131; 70: a drop to
    100 (short; entry 100); 72: high 103; 80: a jump to 130 (long; entry 130);
    82: low 127 and high 136 in one candle; the data ends at 85 with close 130.
    """
    rows = [_flat(120.0 - 0.2 * i) for i in range(60)]
    rows.append((108.2, 125.5, 108.0, 125.0))  # 60
    rows += [_flat(125.0)] * 3  # 61..63
    rows.append((125.0, 131.0, 124.5, 125.0))  # 64
    rows += [_flat(125.0)] * 5  # 65..69
    rows.append((125.0, 125.5, 99.5, 100.0))  # 70
    rows.append(_flat(100.0))  # 71
    rows.append((100.0, 103.0, 99.5, 100.0))  # 72
    rows += [_flat(100.0)] * 7  # 73..79
    rows.append((100.0, 130.5, 99.5, 130.0))  # 80
    rows.append(_flat(130.0))  # 81
    rows.append((130.0, 136.0, 127.0, 130.0))  # 82
    rows += [_flat(130.0)] * 3  # 83..85
    return rows


@pytest.fixture
def crossing_candles() -> pd.DataFrame:
    return make_candles(crossing_rows())
