"""The optimal-parameter service: which parameters a slice trades now, where they came from, how far to trust them.

``get_parameters`` resolves one (symbol, timeframe, strategy) through the
fallback chain

1. the user's own custom set (premium users with custom parameters on);
2. the active production set (``app.services.params.parameter_sets``), or its
   regime-specific set when the job evaluated one for the given market regime;
3. the strategy's declared defaults (with the ``PRODUCTION_PARAMS`` config
   overrides), ``source="default"``.

It never raises for a symbol or slice with no data (defaults); an unknown
strategy is bad input (there are no defaults to give). Results are cached
per process (``app.services.params.parameter_cache``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pandas as pd
from cachetools import LRUCache
from flask import current_app
from sqlalchemy import select

from app.core.regimes import VOLATILITY_WINDOW, current_regime
from app.enums import ParamSource
from app.errors import ValidationError
from app.extensions import db
from app.models import Symbol, User, UserParameterSet
from app.services.accounts.access import can_use_premium
from app.services.candles.candle_store import check_timeframe, last_stored_timestamp, load_candles
from app.services.params import parameter_sets
from app.services.params.parameter_cache import parameter_cache
from app.services.params.provenance import set_card, source_provenance
from app.strategies import get_strategy

log = logging.getLogger(__name__)

# Confidence levels of a production set: trades in its in-sample run and the sign of its out-of-sample result.
MEDIUM_CONFIDENCE_TRADES = 30
HIGH_CONFIDENCE_TRADES = 100


@dataclass(frozen=True)
class ResolvedParameters:
    """The parameters a slice trades, with their source, age, metrics, confidence and regime (None: base set)."""

    params: dict[str, Any]
    source: str
    as_of: str | None = None
    metrics: dict[str, Any] | None = None
    confidence: dict[str, Any] = field(default_factory=dict)
    regime: str | None = None
    set_id: int | None = None
    provenance: dict[str, Any] | None = None  # ``app.services.params.provenance``: None for defaults
    regime_sets: dict[str, Any] | None = None  # the production set's own sets per regime (base resolution only)

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": dict(self.params),
            "source": self.source,
            "as_of": self.as_of,
            "metrics": self.metrics,
            "confidence": dict(self.confidence),
            "regime": self.regime,
            "set_id": self.set_id,
            "provenance": self.provenance,
        }


def get_parameters(
    *,
    symbol: str,
    timeframe: str,
    strategy: str,
    user: User | None = None,
    market: dict[str, Any] | str | None = None,
    as_of: datetime | None = None,
) -> ResolvedParameters:
    """Return the parameters (symbol, timeframe, strategy) trades for ``user`` (None: production).

    ``market`` is a market context (``market_context``'s shape, or just
    ``{"regime": label}``), or ``"current"`` for the newest stored candle's
    (one candle query per call, before the cache): when the active set
    carries a set the job evaluated for that regime, that set is returned
    (``regime`` names it); otherwise the base set.

    ``as_of`` (naive UTC, production only, not cached): the set that was
    active then (``parameter_sets.row_as_of``), else the defaults (the
    history replay).
    """
    try:
        get_strategy(strategy)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    # Flask-Login's anonymous user (not signed in) resolves like no user at all.
    signed_in = user is not None and getattr(user, "is_authenticated", True)
    user_id = user.id if signed_in and can_use_premium(user) else None
    if market == "current":
        market = market_context(symbol, timeframe)
    elif market is not None and not isinstance(market, dict):
        raise ValidationError("market must be a market context dict, 'current' or None")
    regime = (market or {}).get("regime")
    if as_of is not None and user_id is None:
        row = parameter_sets.row_as_of(symbol=symbol, timeframe=timeframe, strategy=strategy, at=as_of)
        resolved = _production(row, regime) if row is not None else _defaults(strategy)
        return replace(resolved, params=dict(resolved.params))
    key = (symbol, timeframe, strategy, user_id, regime)
    resolved = parameter_cache().get_or_compute(key, lambda: _resolve(symbol, timeframe, strategy, user_id, regime))
    return replace(resolved, params=dict(resolved.params))  # the cached dict is never handed out


def _resolve(symbol: str, timeframe: str, strategy: str, user_id: int | None, regime: str | None):
    if user_id is not None:
        custom = _user_set(user_id, symbol, strategy)
        if custom is not None:
            return custom
    row = parameter_sets.active_row(symbol=symbol, timeframe=timeframe, strategy=strategy)
    if row is not None:
        return _production(row, regime)
    return _defaults(strategy)


def _defaults(strategy: str) -> ResolvedParameters:
    return ResolvedParameters(
        params=parameter_sets.default_params(strategy), source=ParamSource.DEFAULT, confidence=_NO_CONFIDENCE
    )


def _user_set(user_id: int, symbol: str, strategy: str) -> ResolvedParameters | None:
    row = db.session.scalar(
        select(UserParameterSet)
        .join(Symbol, Symbol.id == UserParameterSet.symbol_id)
        .where(
            UserParameterSet.user_id == user_id,
            Symbol.name == symbol,
            UserParameterSet.strategy == strategy,
            UserParameterSet.use_custom.is_(True),
        )
    )
    if row is None:
        return None
    try:
        params = get_strategy(strategy).space.validate(row.params)
    except ValueError as exc:  # the space changed since the user saved it: production, never a crash
        log.warning("user %s %s %s: custom parameters no longer valid (%s)", user_id, symbol, strategy, exc)
        return None
    return ResolvedParameters(
        params=params,
        source=ParamSource.USER,
        as_of=row.updated_at.isoformat(),
        confidence={"level": "user", "origin": row.params_source},
        provenance=source_provenance(row.params_source),
    )


def _production(row, regime: str | None) -> ResolvedParameters:
    metrics = row.metrics or {}
    chosen = (row.regime_sets or {}).get(regime) if regime else None
    if chosen is not None:
        return ResolvedParameters(
            params=dict(chosen["params"]),
            source=ParamSource.PRODUCTION,
            as_of=row.applied_at.isoformat(),
            metrics={"in_sample": None, "out_of_sample": None, "regime": chosen["metrics"]},
            confidence=confidence({"total_trades": chosen["metrics"]["trades"]}, None),
            regime=regime,
            set_id=row.id,
            provenance=set_card(row),
        )
    return ResolvedParameters(
        params=dict(row.params),
        source=ParamSource.PRODUCTION,
        as_of=row.applied_at.isoformat(),
        metrics={"in_sample": metrics.get("in_sample"), "out_of_sample": metrics.get("out_of_sample")},
        confidence=confidence(metrics.get("in_sample"), metrics.get("out_of_sample")),
        set_id=row.id,
        provenance=set_card(row),
        regime_sets=row.regime_sets or None,
    )


_NO_CONFIDENCE = {"level": "none", "trades": 0, "out_of_sample_expectancy_r": None}


def confidence(in_sample: dict[str, Any] | None, out_of_sample: dict[str, Any] | None) -> dict[str, Any]:
    """How far to trust a set: its trade count and out-of-sample expectancy, summed up as low/medium/high.

    low: fewer than MEDIUM_CONFIDENCE_TRADES trades, or a non-positive
    out-of-sample expectancy; high: at least HIGH_CONFIDENCE_TRADES trades and
    a positive out-of-sample expectancy; medium otherwise (no walk-forward).
    """
    trades = int((in_sample or {}).get("total_trades") or 0)
    oos = (out_of_sample or {}).get("expectancy_r")
    if trades < MEDIUM_CONFIDENCE_TRADES or (oos is not None and oos <= 0):
        level = "low"
    elif trades >= HIGH_CONFIDENCE_TRADES and oos is not None:
        level = "high"
    else:
        level = "medium"
    return {"level": level, "trades": trades, "out_of_sample_expectancy_r": oos}


# Bars loaded for the market context: the volatility window plus a warm-up long enough for the Wilder
# recursions (ATR, ADX) to equal their full-history values (their start's weight decays as (13/14)^bars).
REGIME_LOOKBACK_BARS = VOLATILITY_WINDOW + 750
MARKET_CONTEXT_CACHE_SIZE = 4096  # (symbol, timeframe, newest candle) entries per app


def market_context(symbol: str, timeframe: str) -> dict[str, Any]:
    """The newest stored candle's volatility and trend regime (``market_regime``), causal; unknown without candles.

    Returns {symbol, timeframe, volatility, trend, regime, atr_percentile, adx, as_of}; the ``regime`` key
    is what ``get_parameters(..., market=...)`` reads.
    """
    length = check_timeframe(timeframe)
    last = last_stored_timestamp(symbol, timeframe)
    if last is None:
        return {"symbol": symbol, "timeframe": timeframe, **current_regime(pd.DataFrame())}
    # The regime changes only with a new candle: keyed by the newest one, a cached answer is exact.
    cache = current_app.extensions.setdefault("market_context_cache", LRUCache(maxsize=MARKET_CONTEXT_CACHE_SIZE))
    key = (symbol, timeframe, last)
    if key not in cache:
        start = pd.Timestamp(last - REGIME_LOOKBACK_BARS * length, unit="ms", tz="UTC")
        candles = load_candles(symbol, timeframe, start=start)
        cache[key] = {"symbol": symbol, "timeframe": timeframe, **current_regime(candles)}
    return dict(cache[key])


# The report side of the same service (one implementation each, in app.services.params.parameter_report).
from app.services.params.parameter_report import status_report, suggest_parameter_updates  # noqa: E402

__all__ = [
    "ResolvedParameters",
    "confidence",
    "get_parameters",
    "market_context",
    "status_report",
    "suggest_parameter_updates",
]
