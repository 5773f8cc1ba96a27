"""The trade parameters production uses for a slice: one function, one place to change.

Resolved through the optimal-parameter service (``get_parameters``: the
active production set, else the strategy's declared defaults with the
``PRODUCTION_PARAMS`` config overrides), so applying or rolling back a set
changes the next scan's levels, and every caller follows.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import replace
from datetime import datetime
from typing import Any

from app.core.regimes import RegimeParameters, regime_parameters
from app.services.params import parameter_sets
from app.services.params.optimal_parameters import ResolvedParameters, get_parameters


def production_params(
    *, symbol: str, timeframe: str, strategy: str, market: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Return the parameters production uses for (symbol, timeframe, strategy), validated by its space."""
    return resolve_production(symbol=symbol, timeframe=timeframe, strategy=strategy, market=market).params


def resolve_production(
    *, symbol: str, timeframe: str, strategy: str, market: dict[str, Any] | None = None, as_of: datetime | None = None
) -> ResolvedParameters:
    """Return what ``production_params`` resolves with its provenance (source, set id): what outcomes record.

    ``as_of`` (naive UTC): the set active at that time instead of now (the history replay).
    """
    return get_parameters(symbol=symbol, timeframe=timeframe, strategy=strategy, market=market, as_of=as_of)


def production_by_regime(
    *, symbol: str, timeframe: str, strategy: str, as_of: datetime | None = None
) -> list[tuple[ResolvedParameters, RegimeParameters]]:
    """Every distinct parameter set production trades for the slice, each with the regimes it trades.

    The scanners' rule (``app.core.regimes``, docs/outcomes.md#trading-by-regime): a setup is traded with the
    parameters of the regime at its own detection bar. The base set (or the defaults) first; one entry when the
    active set carries no regime sets. Each entry's ``ResolvedParameters`` is what ``get_parameters`` resolves for
    that regime (the set's id and source, the regime set's parameters).
    """
    base = resolve_production(symbol=symbol, timeframe=timeframe, strategy=strategy, as_of=as_of)
    groups = regime_parameters(base.params, base.regime_sets)
    return [
        (base if group.regime is None else replace(base, params=dict(group.params), regime=group.regime), group)
        for group in groups
    ]


class ProductionTimeline:
    """``production_by_regime`` of one slice as of any time, its set history read once (the history replay).

    The replay asks, at every step, for the set applied by the step's end. The
    slice's sets (``applied_at``, id) are read once; the set applied by
    ``as_of`` is the last of them up to it (``parameter_sets.row_as_of``'s
    rule), and each set is resolved once, by ``production_by_regime`` itself at
    the first time it is asked for, so it is the same resolution. Assumes no
    set is applied to the slice meanwhile (during a replay nobody does).
    """

    def __init__(self, *, symbol: str, timeframe: str, strategy: str) -> None:
        self.slice = {"symbol": symbol, "timeframe": timeframe, "strategy": strategy}
        self.applied = parameter_sets.applied_times(**self.slice)
        self.resolved: dict[int | None, list[tuple[ResolvedParameters, RegimeParameters]]] = {}

    def by_regime(self, as_of: datetime) -> list[tuple[ResolvedParameters, RegimeParameters]]:
        """``production_by_regime(..., as_of=as_of)`` (copies: the parameters are the caller's to change)."""
        last = bisect.bisect_right(self.applied, (as_of, math.inf)) - 1
        set_id = self.applied[last][1] if last >= 0 else None
        if set_id not in self.resolved:
            self.resolved[set_id] = production_by_regime(**self.slice, as_of=as_of)
        return [(replace(resolved, params=dict(resolved.params)), group) for resolved, group in self.resolved[set_id]]
