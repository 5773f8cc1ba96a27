"""The runs of one job, filtered, sorted and paged in SQL (the runs table of the dashboard, the API and CSV).

Filters: a slice (any of symbol, timeframe, strategy), parameter values,
a minimum trade count, only each slice's best run. Sort by any stored metric
(ties by run id), then page by ``offset`` or by an opaque keyset ``cursor``
(constant cost however deep the page). Only the page's rows are read, as
column tuples; the total is one COUNT. ``results.query_runs`` and
``results.runs_csv`` are these functions.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, false, func, or_, select

from app.errors import ValidationError
from app.extensions import db
from app.models import OptimizationJob, OptimizationRun, OptimizationSlice
from app.models.optimization import METRIC_COLUMNS
from app.services.optimizer.jobs import get_job
from app.strategies import ParameterError, get_strategy

SORTABLE = ("id", *METRIC_COLUMNS, "stability_score")
RUN_FIELDS = (*METRIC_COLUMNS, "stability_score")
MAX_LIMIT = 500
MAX_OFFSET = 1_000_000
CSV_BATCH = 1_000
SliceFilter = tuple[str | None, str | None, str | None] | dict[str, str | None] | None


@dataclass(frozen=True)
class RunFilter:
    """Validated filters of a runs query (what ``query_runs`` and ``runs_csv`` share).

    A parameter filter is resolved against the job's grids before any SQL:
    per strategy, the canonical keys of the grid's matching parameter sets,
    so the database compares short indexed strings instead of parsing JSON.
    """

    job: OptimizationJob
    slice_ids: list[int] | None = None
    # Per strategy with a matching parameter set: (its slice ids, the matching param_keys).
    param_matches: list[tuple[list[int], list[str]]] | None = None
    min_trades: int | None = None
    best_only: bool = False

    def clauses(self) -> list[Any]:
        """Return the WHERE clauses on ``optimization_runs`` alone (no join), so indexes can serve them."""
        clauses: list[Any] = [OptimizationRun.job_id == self.job.id]
        if self.slice_ids is not None:
            clauses.append(OptimizationRun.slice_id.in_(self.slice_ids))
        if self.min_trades is not None:
            clauses.append(OptimizationRun.total_trades >= self.min_trades)
        if self.best_only:
            best = select(OptimizationSlice.best_run_id).where(
                OptimizationSlice.job_id == self.job.id, OptimizationSlice.best_run_id.is_not(None)
            )
            clauses.append(OptimizationRun.id.in_(best))
        if self.param_matches is not None:
            matches = [
                and_(OptimizationRun.slice_id.in_(ids), OptimizationRun.param_key.in_(keys))
                for ids, keys in self.param_matches
            ]
            clauses.append(or_(*matches) if matches else false())
        return clauses


def query_runs(
    job_id: int,
    *,
    slice: SliceFilter = None,  # noqa: A002 - the contract's name
    params: dict[str, Any] | None = None,
    min_trades: int | None = None,
    best_only: bool = False,
    sort: str = "composite_score",
    descending: bool = True,
    limit: int = 50,
    offset: int = 0,
    cursor: str | None = None,
    fields: list[str] | None = None,
) -> dict[str, Any]:
    """Return one page of a job's runs: ``{total, rows, next_cursor}``.

    Each row: ``id, symbol, timeframe, strategy, params`` and the metrics
    named in ``fields`` (all stored metrics and ``stability_score`` when
    None). ``total`` counts every run matching the filters. ``next_cursor``
    continues after the page's last row with the same filters and sort (None
    on the last page); ``cursor`` and ``offset`` exclude each other. Bad
    input raises ValidationError; an unknown job NotFoundError.
    """
    run_filter = check_filter(job_id, slice=slice, params=params, min_trades=min_trades, best_only=best_only)
    sort = _check_sort(sort)
    limit, offset = _check_int("limit", limit, 1, MAX_LIMIT), _check_int("offset", offset, 0, MAX_OFFSET)
    columns = _check_fields(fields)
    if cursor is not None and offset:
        raise ValidationError("give either cursor or offset, not both")
    after = _decode_cursor(cursor, sort=sort, descending=descending) if cursor is not None else None
    clauses = run_filter.clauses()
    total = db.session.scalar(select(func.count()).select_from(OptimizationRun).where(*clauses))
    page = _page(clauses, sort=sort, descending=descending, limit=limit, offset=offset, after=after)
    rows = _rows([run_id for run_id, _ in page], columns)
    last = page[-1] if len(page) == limit else None
    next_cursor = _encode_cursor(sort, descending, last[1], last[0]) if last is not None else None
    return {"total": total, "rows": rows, "next_cursor": next_cursor}


def runs_csv(
    job_id: int,
    *,
    sort: str = "composite_score",
    descending: bool = True,
    fields: list[str] | None = None,
    **filters: Any,
) -> Iterator[str]:
    """Yield a CSV of every run matching ``filters`` (``query_runs``' filters and sort), a header line first.

    Columns: id, symbol, timeframe, strategy, one column per parameter of
    the job's strategies (empty where a strategy lacks it), then the fields.
    Everything is validated before the first line; then keyset pages of
    ``CSV_BATCH`` rows are read, so memory stays flat however big the job.
    """
    paging = sorted({"limit", "offset", "cursor"} & set(filters))
    if paging:
        raise ValidationError(f"{', '.join(paging)} do not apply to the CSV export (it holds every matching run)")
    run_filter = check_filter(job_id, **filters)
    sort, columns = _check_sort(sort), _check_fields(fields)
    return _csv_lines(run_filter, sort=sort, descending=descending, columns=columns)


def _csv_lines(run_filter: RunFilter, *, sort: str, descending: bool, columns: list[str]) -> Iterator[str]:
    names = list(dict.fromkeys(n for s in run_filter.job.strategies for n in get_strategy(s).space.names))
    yield _csv_line(["id", "symbol", "timeframe", "strategy", *names, *columns])
    clauses, after = run_filter.clauses(), None
    while True:
        page = _page(clauses, sort=sort, descending=descending, limit=CSV_BATCH, offset=0, after=after)
        for row in _rows([run_id for run_id, _ in page], columns):
            params = row["params"]
            yield _csv_line(
                [row["id"], row["symbol"], row["timeframe"], row["strategy"]]
                + [params.get(n, "") for n in names]
                + [row[c] for c in columns]
            )
        if len(page) < CSV_BATCH:
            return
        after = (page[-1][1], page[-1][0])


def check_filter(
    job_id: int,
    *,
    slice: SliceFilter = None,  # noqa: A002
    params: dict[str, Any] | None = None,
    min_trades: int | None = None,
    best_only: bool = False,
) -> RunFilter:
    """Validate the filters against the job (its slices, its strategies' declared parameters)."""
    job = get_job(job_id)
    symbol, timeframe, strategy = _slice_parts(slice)
    query = select(OptimizationSlice.id, OptimizationSlice.strategy).where(OptimizationSlice.job_id == job.id)
    for column, value in (
        (OptimizationSlice.symbol, symbol),
        (OptimizationSlice.timeframe, timeframe),
        (OptimizationSlice.strategy, strategy),
    ):
        if value is not None:
            query = query.where(column == value)
    filtered = any(part is not None for part in (symbol, timeframe, strategy))
    slices = db.session.execute(query).all() if filtered or params else []
    if min_trades is not None:
        min_trades = _check_int("min_trades", min_trades, 0, 10**9)
    return RunFilter(
        job=job,
        slice_ids=[slice_id for slice_id, _ in slices] if filtered else None,
        param_matches=_param_matches(job, params, slices, only=strategy) if params else None,
        min_trades=min_trades,
        best_only=bool(best_only),
    )


def _param_matches(
    job: OptimizationJob, params: Any, slices: list[tuple[int, str]], *, only: str | None
) -> list[tuple[list[int], list[str]]]:
    """Return, per strategy of the job declaring every filtered name, its slices and matching grid keys.

    Values are validated by each strategy's declared parameter (ValidationError
    naming the field); a name no strategy of the job declares is refused.
    """
    if not isinstance(params, dict):
        raise ValidationError("params must map parameter names to values", details={"field": "params"})
    strategies = [only] if only in job.strategies else list(job.strategies)
    known = {n for s in strategies for n in get_strategy(s).space.names}
    unknown = [name for name in params if name not in known]
    if unknown:
        raise ValidationError(
            f"unknown parameter {unknown[0]!r} for this job (known: {', '.join(sorted(known))})",
            details={"field": f"params.{unknown[0]}"},
        )
    matches = []
    for strategy in strategies:
        space = get_strategy(strategy).space
        if not set(params) <= set(space.names):
            continue
        wanted = {}
        for name, value in params.items():
            try:
                wanted[name] = space.parameter(name).check(value, where="params")
            except ParameterError as exc:
                raise ValidationError(str(exc), details={"field": f"params.{name}"}) from None
        keys = [
            space.key(combo)
            for combo in space.expand(job.parameter_grids.get(strategy, {}))
            if all(_same(combo[name], value) for name, value in wanted.items())
        ]
        ids = [slice_id for slice_id, slice_strategy in slices if slice_strategy == strategy]
        if keys and ids:
            matches.append((ids, keys))
    return matches


def _same(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, float) and isinstance(wanted, float):
        return math.isclose(stored, wanted, rel_tol=1e-12, abs_tol=1e-12)
    return stored == wanted and type(stored) is type(wanted)


# ---------------------------------------------------------------------- SQL


def _page(clauses, *, sort: str, descending: bool, limit: int, offset: int, after) -> list[tuple[int, Any]]:
    """Return (run id, sort value) of the page, from ``optimization_runs`` alone."""
    column = getattr(OptimizationRun, sort)
    query = select(OptimizationRun.id, column).where(*clauses)
    if after is not None:
        value, last_id = after
        beyond = column < value if descending else column > value
        query = query.where(or_(beyond, and_(column == value, OptimizationRun.id > last_id)))
    order = column.desc() if descending else column.asc()
    query = query.order_by(order, OptimizationRun.id.asc()).limit(limit).offset(offset)
    return [tuple(r) for r in db.session.execute(query)]


def _rows(run_ids: list[int], columns: list[str]) -> list[dict[str, Any]]:
    """Read the page's runs (with their slice) as column tuples, in page order."""
    if not run_ids:
        return []
    selected = [getattr(OptimizationRun, name) for name in columns]
    result = db.session.execute(
        select(
            OptimizationRun.id,
            OptimizationSlice.symbol,
            OptimizationSlice.timeframe,
            OptimizationSlice.strategy,
            OptimizationRun.params,
            *selected,
        )
        .join(OptimizationSlice, OptimizationSlice.id == OptimizationRun.slice_id)
        .where(OptimizationRun.id.in_(run_ids))
    )
    keys = ["id", "symbol", "timeframe", "strategy", "params", *columns]
    by_id = {row[0]: dict(zip(keys, row, strict=True)) for row in result}
    return [by_id[run_id] for run_id in run_ids if run_id in by_id]


# ---------------------------------------------------------------------- input checks


def _slice_parts(value: SliceFilter) -> tuple[str | None, str | None, str | None]:
    if value is None:
        return None, None, None
    if isinstance(value, dict):
        unknown = set(value) - {"symbol", "timeframe", "strategy"}
        if unknown:
            raise ValidationError(f"slice has unknown key(s): {', '.join(sorted(map(str, unknown)))}")
        parts = (value.get("symbol"), value.get("timeframe"), value.get("strategy"))
    elif isinstance(value, list | tuple) and len(value) == 3:
        parts = tuple(value)
    else:
        raise ValidationError("slice must be (symbol, timeframe, strategy); any part may be None")
    for part in parts:
        if part is not None and (not isinstance(part, str) or len(part) > 40):
            raise ValidationError(f"slice part must be text of at most 40 characters, not {part!r}")
    return parts  # type: ignore[return-value]


def _check_sort(sort: Any) -> str:
    if sort not in SORTABLE:
        raise ValidationError(f"sort must be one of {', '.join(SORTABLE)}, not {sort!r}", details={"field": "sort"})
    return sort


def _check_fields(fields: Any) -> list[str]:
    if fields is None:
        return list(RUN_FIELDS)
    if isinstance(fields, str) or not isinstance(fields, list | tuple):
        raise ValidationError("fields must be a list of metric names", details={"field": "fields"})
    unknown = [f for f in fields if f not in RUN_FIELDS]
    if unknown:
        raise ValidationError(
            f"unknown field(s): {', '.join(map(str, unknown))} (known: {', '.join(RUN_FIELDS)})",
            details={"field": "fields"},
        )
    return list(dict.fromkeys(fields))


def _check_int(label: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(
            f"{label} must be an integer from {low} to {high}, not {value!r}", details={"field": label}
        )
    return value


def _encode_cursor(sort: str, descending: bool, value: Any, run_id: int) -> str:
    text = json.dumps([sort, bool(descending), value, run_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: Any, *, sort: str, descending: bool) -> tuple[Any, int]:
    """Return (sort value, run id) after which the page starts; a foreign or forged cursor is a ValidationError."""
    bad = ValidationError("cursor is not one this endpoint gave out", details={"field": "cursor"})
    if not isinstance(cursor, str) or len(cursor) > 200:
        raise bad
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if not (isinstance(decoded, list) and len(decoded) == 4):
        raise bad
    c_sort, c_descending, value, run_id = decoded
    if c_sort != sort or c_descending != bool(descending):
        raise ValidationError(
            "cursor belongs to another sort order; start again without it", details={"field": "cursor"}
        )
    numeric = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not numeric or isinstance(run_id, bool) or not isinstance(run_id, int) or run_id < 0:
        raise bad
    return value, run_id


def _csv_line(values: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()
