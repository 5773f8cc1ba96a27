"""API v1: health, strategies and their declared parameter spaces, candle coverage, patterns and signals."""

from __future__ import annotations

from app.errors import NotFoundError
from app.routes.api import schemas as s
from app.routes.api.base import make_blueprint, public
from app.services.candles import candle_store
from app.services.health import check_health
from app.services.scanning import setups
from app.strategies import describe_strategies

bp = make_blueprint("api_catalogue", tag="Catalogue")


@bp.get("/health")
@bp.output(s.HealthOut, status_code=200)
@bp.doc(
    responses={
        200: "database reachable and schema at head",
        503: {
            "description": "not healthy: what is wrong (database unreachable, schema missing or behind)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HealthOut"}}},
        },
    }
)
@public
def health():
    """Health: 200 when the database answers and its schema is at the migrations' head, else 503."""
    healthy, report = check_health()
    return report, 200 if healthy else 503


@bp.get("/strategies")
@bp.output(s.StrategyListOut)
def strategies():
    """Every registered strategy with its declared parameter space, constraints and grid presets."""
    return {"strategies": describe_strategies()}


@bp.get("/strategies/<name>")
@bp.output(s.StrategyOut)
def strategy(name: str):
    """One strategy's declaration; 404 when no strategy has that name."""
    found = describe_strategies(name)
    if not found:
        raise NotFoundError(f"no strategy named {name!r}")
    return found[0]


@bp.get("/candles/coverage")
@bp.output(s.CoverageOut)
def coverage():
    """Stored candles per symbol and timeframe: first, last, count, gaps."""
    return {"coverage": candle_store.coverage()}


@bp.get("/patterns")
@bp.input(s.SetupQuery, location="query")
@bp.output(s.SetupPageOut)
def patterns(query_data: s.SetupQuery):
    """Detected patterns with zone and levels, newest first; ``status`` defaults to ``active``; cursor paging."""
    args = query_data.model_dump()
    args["status"] = args["status"] or "active"
    return setups.list_patterns(**args)


@bp.get("/signals")
@bp.input(s.SetupQuery, location="query")
@bp.output(s.SetupPageOut)
def signals(query_data: s.SetupQuery):
    """Indicator strategies' live signals with entry, stop and TP1-3, newest first; cursor paging."""
    return setups.list_signals(**query_data.model_dump())
