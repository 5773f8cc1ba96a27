"""The signed-in home page's data: active patterns, newest signals, best parameters per slice."""

from __future__ import annotations

from app.services.optimizer import results
from app.services.scanning import setups

DASHBOARD_ROWS = 50


def dashboard() -> dict:
    """Return {patterns, signals, best}: what every signed-in user sees on ``/``."""
    return {
        "patterns": setups.list_patterns(status="active", limit=DASHBOARD_ROWS)["rows"],
        "signals": setups.list_signals(limit=DASHBOARD_ROWS)["rows"],
        "best": results.best_params(metric="composite_score"),
    }
