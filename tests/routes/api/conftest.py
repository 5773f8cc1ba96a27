"""Fixtures of the JSON API tests: a user and a token per tier, a small completed job, stored setups.

Shared by the tests in this directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pytest

from app.models import Pattern, Signal
from app.services.accounts import api_tokens, users
from app.services.candles import candle_store
from app.services.optimizer import jobs
from app.services.optimizer.runner import JobRunner

GRID = {"rr_target": [1.5, 2.5], "sl_buffer_pct": [5, 15], "tp_method": ["fixed_rr", "swing_target"]}
TIERS = ("free", "premium", "admin")


@dataclass
class ApiUsers:
    """One user per tier, each with an active token; ``headers(tier)`` authenticates as that user."""

    users: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)

    def headers(self, tier: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[tier]}"}


@pytest.fixture
def api(app, db):
    """Users and tokens of every tier, with rate limits high enough not to interfere."""
    app.config["API_RATE_LIMITS"] = dict.fromkeys(("anonymous", *TIERS), "100000/minute")
    found = ApiUsers()
    for tier in TIERS:
        user = users.create_user(email=f"{tier}@example.com", password="password-123", tier=tier)
        found.users[tier] = user
        found.tokens[tier] = api_tokens.create_token(user, name=f"{tier} bot")[1]
    return found


@pytest.fixture
def stored_job(db, bundled_dir):
    """A completed job: BTC/USDT 1d, imbalance and macd (quick), 8 + 6 runs; plus one pattern and one signal."""
    candle_store.import_csv(bundled_dir / "BTC_USDT-1d.csv.gz", symbol="BTC/USDT", timeframe="1d")
    job = jobs.create_job(
        name="api job",
        symbols=["BTC/USDT"],
        timeframes=["1d"],
        strategies=["imbalance", "macd"],
        start_date="2021-01-01",
        end_date="2024-12-31",
        grids={"imbalance": GRID, "macd": "quick"},
        monte_carlo=False,
    )
    JobRunner(workers=1).run(job.id)
    symbol = candle_store.find_symbol("BTC/USDT")
    stamp = datetime(2024, 12, 1)
    levels = {"entry": 100.0, "stop_loss": 90.0, "tp1": 110.0, "tp2": 120.0, "tp3": 130.0}
    db.session.add(
        Pattern(
            symbol_id=symbol.id,
            timeframe="1d",
            pattern_type="imbalance",
            direction="bullish",
            zone_low=95.0,
            zone_high=100.0,
            detected_at=stamp,
            **levels,
        )
    )
    db.session.add(
        Signal(symbol_id=symbol.id, timeframe="1d", strategy="macd", direction="long", signal_at=stamp, **levels)
    )
    db.session.commit()
    return jobs.get_job(job.id)


def pytest_terminal_summary(terminalreporter):
    """After a run that fuzzed the API: examples and server errors per operation (tests/routes/api/test_api_fuzz.py)."""
    import sys

    fuzz = sys.modules.get("test_api_fuzz") or sys.modules.get("tests.routes.api.test_api_fuzz")
    if fuzz is None or not fuzz.COUNTS:
        return
    counts, errors = fuzz.COUNTS, fuzz.SERVER_ERRORS
    terminalreporter.write_sep("-", "schemathesis")
    terminalreporter.write_line(
        f"{sum(counts.values())} examples over {len(counts)} operations, {sum(errors.values())} server errors"
    )
    for label, count in sorted(counts.items()):
        terminalreporter.write_line(f"  {label}: {count} examples, {errors[label]} server errors")
