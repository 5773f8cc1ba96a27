"""The outcomes page of one slice (symbol x timeframe x strategy): is its production set delivering? (issue 23).

One call assembles what the page shows:

- ``state``: the monitor's state of the slice's active set (``monitor.monitor_states``
  over **every** active set, so the Benjamini-Hochberg family, and with it the
  verdict, is the one the dashboard and ``/api/v1/monitor`` show); None when
  production trades the defaults.
- ``chart``: the set's live cumulative R after each closed trade against the
  Monte Carlo band of its backtest for the same number of trades
  (``decay.cumulative_r_paths``); None without a usable expectation.
- ``outcomes``: one page of the slice's tracked setups, newest detection first
  (``queries.list_outcomes``), whatever set (or the defaults) produced them.
"""

from __future__ import annotations

from typing import Any

from app.errors import ValidationError
from app.evaluation.monitoring.decay import ALARM, FDR_Q, cumulative_r_paths
from app.services.outcomes import monitor, queries
from app.services.params import parameter_sets
from app.strategies import get_strategy

OUTCOMES_PER_PAGE = 20  # with the chart and the monitor: two screens at 1440x900


def slice_page(*, symbol: str, timeframe: str, strategy: str, page: int = 1) -> dict[str, Any]:
    """Return {slice, active_set, state, bh, chart, outcomes} for the slice's outcomes page (module docstring)."""
    _check_strategy(strategy)
    market = {"symbol": symbol, "timeframe": timeframe, "strategy": strategy}
    row = parameter_sets.active_row(**market)
    state, expectation = _judged(row.id) if row is not None else (None, None)
    return {
        "slice": market,
        "active_set": parameter_sets.set_to_dict(row) if row is not None else None,
        "state": state,
        "bh": benjamini_hochberg_result(state) if state is not None else None,
        "chart": _chart(row, expectation) if state is not None and state["band"] is not None else None,
        "outcomes": _outcomes_page(market, page=page),
    }


def benjamini_hochberg_result(state: dict[str, Any]) -> str:
    """What Benjamini-Hochberg (over every active set) made of a state's CUSUM or SPRT alarm, in words."""
    if state["min_track_record"] is None:
        return "not judged: no expectation"
    if state["cusum_alarm_at"] is None and state["sprt"] != "decay":
        return "no CUSUM or SPRT alarm to confirm"
    if state["verdict"] == ALARM:
        return f"confirms the alarm at q = {FDR_Q:g}"
    return f"does not confirm the alarm at q = {FDR_Q:g}: watch"


def _check_strategy(strategy: str) -> None:
    try:
        get_strategy(strategy)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def _judged(set_id: int) -> tuple[dict[str, Any] | None, Any]:
    """The set's state among every active set's (the BH family) and its expectation."""
    return next(((state, exp) for state, exp in monitor.judged_sets() if state["set_id"] == set_id), (None, None))


def _chart(row, expectation) -> dict[str, list[float]] | None:
    if expectation is None:
        return None
    return cumulative_r_paths(monitor.live_r(row), expectation)


def _outcomes_page(market: dict[str, str], *, page: int) -> dict[str, Any]:
    found = queries.list_outcomes(**market, limit=OUTCOMES_PER_PAGE, offset=(page - 1) * OUTCOMES_PER_PAGE)
    pages = max(1, -(-found["total"] // OUTCOMES_PER_PAGE))
    return {**found, "page": page, "pages": pages}
