"""The signed-in home page's data: active patterns, newest signals, best parameters per slice."""

from __future__ import annotations

from collections import Counter

from app.services.optimizer import results
from app.services.scanning import setups

DASHBOARD_ROWS = 50


def dashboard() -> dict:
    """Return {patterns, signals, best, markets}: what every signed-in user sees on ``/``.

    ``markets``: the (symbol, timeframe) pairs with active patterns, most patterns first: the chart's choices.
    """
    patterns = setups.list_patterns(status="active", limit=DASHBOARD_ROWS)["rows"]
    counts = Counter((p["symbol"], p["timeframe"]) for p in patterns)
    return {
        "patterns": patterns,
        "markets": [market for market, _ in counts.most_common()],
        "signals": setups.list_signals(limit=DASHBOARD_ROWS)["rows"],
        "best": results.best_params(metric="composite_score"),
    }
