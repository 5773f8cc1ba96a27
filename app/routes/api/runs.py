"""API v1: the runs of a job (filter, sort, cursor pages, fields, CSV), one run's trades, heatmaps, importance, best."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, stream_with_context

from app.errors import ValidationError
from app.routes.api import schemas as s
from app.routes.api.base import make_blueprint
from app.routes.api.jobs import JOB_ID
from app.services.optimizer import results

bp = make_blueprint("api_runs", tag="Runs")


@bp.get(f"/jobs/{JOB_ID}/runs")
@bp.input(s.RunsQuery, location="query")
@bp.output(s.RunPageOut)
def runs(job_id: int, query_data: s.RunsQuery):
    """One page of a job's runs: filters, sort by any metric, ``cursor`` (``next_cursor``) or ``offset``, ``fields``."""
    args = _run_filters(query_data)
    return results.query_runs(
        job_id, **args, limit=query_data.limit, offset=query_data.offset, cursor=query_data.cursor
    )


@bp.get(f"/jobs/{JOB_ID}/runs.csv")
@bp.input(s.RunsCsvQuery, location="query")
@bp.doc(responses={200: {"description": "CSV, a header line first", "content": {"text/csv": {}}}})
def runs_csv(job_id: int, query_data: s.RunsCsvQuery):
    """Every run matching the filters as CSV (one column per parameter, then the metrics), streamed."""
    lines = results.runs_csv(job_id, **_run_filters(query_data))
    headers = {"Content-Disposition": f'attachment; filename="job-{job_id}-runs.csv"'}
    return Response(stream_with_context(lines), mimetype="text/csv", headers=headers)


@bp.get("/runs/<int(max=9007199254740991):run_id>/trades")
@bp.output(s.TradesOut)
def run_trades(run_id: int):
    """One run's trades, equity curve, drawdown and R histogram (recomputed when not stored)."""
    return results.run_trades(run_id)


@bp.get("/matrix")
@bp.input(s.MatrixQuery, location="query")
@bp.output(s.MatrixOut)
def matrix(query_data: s.MatrixQuery):
    """Heatmap of one slice over two parameters (the others folded); no ``job_id``: the newest job's slice."""
    return results.compare_matrix(**query_data.model_dump())


@bp.get("/importance")
@bp.input(s.ImportanceQuery, location="query")
@bp.output(s.ImportanceOut)
def importance(query_data: s.ImportanceQuery):
    """Share of a metric's variance each parameter explains over one slice's runs."""
    return results.parameter_importance(**query_data.model_dump())


@bp.get("/best-parameters")
@bp.input(s.BestQuery, location="query")
@bp.output(s.BestOut)
def best_parameters(query_data: s.BestQuery):
    """The best run per slice by a metric among runs with enough trades; ``robust`` ranks by stability score."""
    return {"best": results.best_params(**query_data.model_dump())}


def _run_filters(query: s.RunsQuery | s.RunsCsvQuery) -> dict[str, Any]:
    """Turn the query string's filters into ``query_runs`` keywords (params JSON, comma-separated fields)."""
    return {
        "slice": (query.symbol, query.timeframe, query.strategy),
        "params": _params(query.params),
        "min_trades": query.min_trades,
        "best_only": query.best_only,
        "sort": query.sort,
        "descending": query.order == "desc",
        "fields": [f.strip() for f in query.fields.split(",") if f.strip()] if query.fields else None,
    }


def _params(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise ValidationError(f"params must be a JSON object: {exc}", details={"field": "params"}) from None
    if not isinstance(value, dict):
        raise ValidationError("params must be a JSON object of parameter values", details={"field": "params"})
    return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number")
