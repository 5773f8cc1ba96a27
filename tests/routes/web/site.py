"""A small finished site for the page tests and the browser test: candles, patterns, signals, users, one job."""

from __future__ import annotations

from app.services.candles import candle_store
from app.services.optimizer import jobs
from app.services.optimizer.runner import JobRunner
from app.services.scanning import pattern_scanner, signal_scanner
from tests.conftest import BUNDLED_DIR
from tests.routes.web.helpers import make_users

# BNB/USDT 1d: its QUICK macd best passes the auto-tuner (positive after costs), so Apply can be shown.
SYMBOL, TIMEFRAME = "BNB/USDT", "1d"
STRATEGIES = ["imbalance", "macd"]
START, END = "2021-01-01", "2024-12-31"


def load_market() -> None:
    """Import BNB/USDT 1d and scan it for patterns and signals."""
    candle_store.import_csv(BUNDLED_DIR / "BNB_USDT-1d.csv.gz", symbol=SYMBOL, timeframe=TIMEFRAME)
    pattern_scanner.scan(symbol=SYMBOL, timeframe=TIMEFRAME)
    signal_scanner.scan_all(symbols=[SYMBOL], timeframes=[TIMEFRAME])


def create_quick_job(name: str = "quick web job", **overrides):
    """A pending QUICK job over the market (12 runs)."""
    args = dict(
        name=name,
        symbols=[SYMBOL],
        timeframes=[TIMEFRAME],
        strategies=STRATEGIES,
        start_date=START,
        end_date=END,
        grids="quick",
    )
    return jobs.create_job(**{**args, **overrides})


def build_site() -> dict:
    """Everything above, with the job run to completion; returns its ids and the users' emails."""
    load_market()
    users = make_users()
    job = create_quick_job()
    JobRunner(workers=1).run(job.id)
    return {"job_id": job.id, "users": users}
