"""The trade parameters production uses for a slice: one function, one place to change.

Today these are the strategy's declared defaults, optionally overridden by
the ``PRODUCTION_PARAMS`` config mapping; the optimal-parameter service will
plug tuned parameters in here, and every caller follows.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, has_app_context

from app.strategies import get_strategy


def production_params(symbol: str, timeframe: str, strategy: str) -> dict[str, Any]:
    """Return the parameters production uses for (symbol, timeframe, strategy), validated by its space."""
    space = get_strategy(strategy).space
    overrides = (current_app.config.get("PRODUCTION_PARAMS") or {}) if has_app_context() else {}
    return space.validate({name: value for name, value in overrides.items() if name in space.names})
