"""The signed-in home page's data: active patterns, newest signals, best parameters per slice."""

from __future__ import annotations

from app.services import pattern_list, signal_scanner
from app.services.optimizer import results

DASHBOARD_ROWS = 50


def dashboard() -> dict:
    """Return {patterns, signals, best}: what every signed-in user sees on ``/``."""
    return {
        "patterns": pattern_list.active_patterns(limit=DASHBOARD_ROWS),
        "signals": signal_scanner.active_signals(limit=DASHBOARD_ROWS),
        "best": results.best_params(metric="composite_score"),
    }
