"""The trade parameters production uses for a slice: one function, one place to change.

Today these are the defaults (``PRODUCTION_DEFAULTS``), optionally overridden
by the ``PRODUCTION_PARAMS`` config mapping; the optimal-parameter service
will plug tuned parameters in here, and every caller follows.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, has_app_context

from app.services.parameter_grid import PRODUCTION_DEFAULTS


def production_params(symbol: str, timeframe: str, pattern_type: str) -> dict[str, Any]:
    """Return the six trade parameters production uses for (symbol, timeframe, pattern_type)."""
    params = dict(PRODUCTION_DEFAULTS)
    if has_app_context():
        params.update(current_app.config.get("PRODUCTION_PARAMS") or {})
    return params
