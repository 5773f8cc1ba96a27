"""Synthetic candles for the validation tests: repeated bullish fair-value-gap motifs with a chosen follow-through."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

MOTIF_BARS = 48
DETECT_BAR = 12  # the bar of a motif whose close completes the FVG
FILL_BAR = 13  # the retrace that fills a zone_edge limit order
ZONE = (100.6, 101.6)  # FVG zone; with sl_buffer_pct=10 the stop is 100.5, so R = 1.1
STOP = 100.5
WICK = 0.25  # wick on every path candle; a step <= 2 x WICK never leaves a three-candle gap
STEP = 0.4

FLAT = (100.0, 100.1, 99.9, 100.0)
SETUP = [
    (100.0, 100.6, 99.9, 100.5),  # bar 10: its high is the zone's low edge
    (100.5, 102.1, 100.05, 102.0),  # bar 11: strong up-close middle candle (its low touches bar 9: no gap there)
    (102.0, 102.5, 101.6, 102.3),  # bar 12: its low leaves the gap -> bullish FVG [100.6, 101.6]
    (102.3, 102.4, 101.5, 101.8),  # bar 13: retrace fills a limit at 101.6 without touching the stop
]


def _path(start: float, targets: list[float]) -> list[tuple[float, float, float, float]]:
    """Return overlapping candles walking from ``start`` through each target in steps of at most STEP."""
    rows = []
    price = start
    for target in targets:
        steps = max(1, int(np.ceil(abs(target - price) / STEP - 1e-9)))
        for close in np.linspace(price, target, steps + 1)[1:]:
            rows.append((price, max(price, close) + WICK, min(price, close) - WICK, float(close)))
            price = float(close)
    return rows


def motif(regime: str) -> list[tuple[float, float, float, float]]:
    """Return the MOTIF_BARS candles of one motif.

    'runner': after the fill price runs to 106.2 (+4R) before sliding back to 100, so a large rr_target wins big;
    'fader': price peaks at 103.4 (+1.64R: rr 1.5 hits, rr 2 does not) and then falls through the stop (-1R).
    The slide back to 100 closes below the zone, which invalidates it before the next motif.
    """
    peak = {"runner": 106.2, "fader": 103.4}[regime]
    rows = [FLAT] * 10 + SETUP + _path(SETUP[-1][3], [peak, 100.0])
    rows += [FLAT] * (MOTIF_BARS - len(rows))
    assert len(rows) == MOTIF_BARS, len(rows)
    return rows


def make_frame(rows: list[tuple[float, float, float, float]], *, start: str = "2024-01-01") -> pd.DataFrame:
    """Return a candle DataFrame (docs/design-rules.md#candles) (hourly) from (open, high, low, close) rows."""
    arr = np.asarray(rows, dtype=np.float64)
    index = pd.date_range(start, periods=len(rows), freq="1h", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {"open": arr[:, 0], "high": arr[:, 1], "low": arr[:, 2], "close": arr[:, 3], "volume": 1.0}, index=index
    )


def regime_candles(regimes: list[str], *, pad: int = 0) -> pd.DataFrame:
    """Return ``pad`` flat candles followed by one motif per entry of ``regimes``."""
    rows = [FLAT] * pad
    for regime in regimes:
        rows += motif(regime)
    return make_frame(rows)


def json_roundtrip(value):
    """Serialise strictly (no NaN/inf, no numpy scalars) and load back."""
    return json.loads(json.dumps(value, allow_nan=False))
