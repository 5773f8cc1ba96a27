"""Fixtures for the pattern tests: the bundled real candles."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from app.services.candle_frame import read_candles_csv

BUNDLED = Path(__file__).resolve().parents[2] / "data" / "candles"


@pytest.fixture(scope="session")
def btc_1h() -> pd.DataFrame:
    """The bundled BTC/USDT 1h candles."""
    return read_candles_csv(BUNDLED / "BTC_USDT-1h.csv.gz")
