"""API v1: tracked setup outcomes and the decay monitor's state per active production set (reads)."""

from __future__ import annotations

from app.routes.api import schemas as s
from app.routes.api.base import make_blueprint
from app.services.outcomes import monitor
from app.services.outcomes.queries import list_outcomes

bp = make_blueprint("api_outcomes", tag="Outcomes")


@bp.get("/outcomes")
@bp.input(s.OutcomesQuery, location="query")
@bp.output(s.OutcomesOut)
def outcomes(query_data: s.OutcomesQuery):
    """Tracked outcomes of published setups, newest detection first (filters, limit and offset)."""
    return list_outcomes(**query_data.model_dump())


@bp.get("/monitor")
@bp.input(s.MonitorQuery, location="query")
@bp.output(s.MonitorOut)
def monitor_state(query_data: s.MonitorQuery):
    """The decay monitor per active production set, sets in alarm first (docs/outcomes.md#the-monitor-service)."""
    return {"sets": monitor.monitor_states(**query_data.model_dump())}
