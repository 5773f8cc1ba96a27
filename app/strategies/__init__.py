"""Strategies: the extension point of CryptoLens (pure: no Flask, no SQLAlchemy).

The registry maps each strategy name to its instance; jobs, runs, reports,
preferences, the CLI, the web and the API all look strategies up here. The
three pattern strategies are registered on import; a new strategy is a module
with a ``Strategy`` subclass plus one ``register_strategy`` call.
"""

from __future__ import annotations

from typing import Any

from app.strategies.base import INDICATOR, PATTERN, Setups, SingleRun, Strategy, setup_counts, trade_records
from app.strategies.parameters import Constraint, Parameter, ParameterError, ParameterSpace
from app.strategies.patterns import pattern_strategies

_REGISTRY: dict[str, Strategy] = {}


def register_strategy(strategy: Strategy) -> Strategy | None:
    """Register ``strategy`` under its name and return the one it replaces (None if new)."""
    if not isinstance(strategy, Strategy):
        raise TypeError(f"strategy must be a Strategy instance, got {strategy!r}")
    previous = _REGISTRY.get(strategy.name)
    _REGISTRY[strategy.name] = strategy
    return previous


def unregister_strategy(name: str) -> Strategy | None:
    """Remove a strategy (tests restore the registry with it); return what was registered."""
    return _REGISTRY.pop(name, None)


def get_strategy(name: str) -> Strategy:
    """Return the registered strategy ``name`` (ValueError naming the known ones)."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown strategy {name!r} (known: {', '.join(_REGISTRY)})") from None


def strategy_names(kind: str | None = None) -> tuple[str, ...]:
    """Return the registered names in registration order, optionally of one kind (pattern | indicator)."""
    return tuple(name for name, s in _REGISTRY.items() if kind is None or s.kind == kind)


def describe_strategies(name: str | None = None) -> list[dict[str, Any]]:
    """Return the declaration of every registered strategy (or only ``name``'s; [] when unknown), for API and web."""
    return [s.describe() for key, s in _REGISTRY.items() if name is None or key == name]


for _strategy in pattern_strategies():
    register_strategy(_strategy)

# Indicator strategies (imported here, after the registry exists: they import app.strategies.base).
from app.strategies.ema_cross import EmaCrossStrategy  # noqa: E402
from app.strategies.macd import MacdStrategy  # noqa: E402

register_strategy(EmaCrossStrategy())
register_strategy(MacdStrategy())

__all__ = [
    "describe_strategies",
    "INDICATOR",
    "PATTERN",
    "Constraint",
    "Parameter",
    "ParameterError",
    "ParameterSpace",
    "Setups",
    "SingleRun",
    "Strategy",
    "get_strategy",
    "register_strategy",
    "setup_counts",
    "strategy_names",
    "trade_records",
    "unregister_strategy",
]
