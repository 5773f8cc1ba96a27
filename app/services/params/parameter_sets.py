"""Production parameter sets per (symbol, timeframe, strategy): the active set, its history, the change log.

Every write goes through here and is logged: ``apply_set`` stores a new set
and makes it active (the previous one stays in the history), ``rollback``
stores a copy of an earlier set and makes it active, ``log_change`` records
proposals and skips (what a dry run writes). Each committed change clears the
optimal-parameter cache of this process, so the next lookup sees it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.enums import ParamAction, ParamSource
from app.errors import ConflictError, NotFoundError, ValidationError
from app.extensions import db
from app.models import ParameterChange, ProductionParameterSet
from app.services.params.parameter_cache import invalidate_parameters
from app.services.params.provenance import set_card
from app.strategies import get_strategy

# Sources a production set may have (resolution adds "user" and "default").
SET_SOURCES = (ParamSource.JOB, ParamSource.RUN, ParamSource.MANUAL)


def _market(model, symbol: str, timeframe: str, strategy: str) -> tuple:
    return (model.symbol == symbol, model.timeframe == timeframe, model.strategy == strategy)


def set_to_dict(row: ProductionParameterSet) -> dict[str, Any]:
    """Return a stored set as JSON-ready data."""
    metrics = row.metrics or {}
    return {
        "id": row.id,
        "symbol": row.symbol,
        "timeframe": row.timeframe,
        "strategy": row.strategy,
        "params": dict(row.params),
        "source": row.source,
        "job_id": row.job_id,
        "run_id": row.run_id,
        "metrics": {"in_sample": metrics.get("in_sample"), "out_of_sample": metrics.get("out_of_sample")},
        "details": {k: v for k, v in metrics.items() if k not in ("in_sample", "out_of_sample", "provenance")},
        "provenance": set_card(row),
        "regime_sets": row.regime_sets,
        "restored_from": row.restored_from,
        "reason": row.reason,
        "applied_by": row.applied_by,
        "applied_at": row.applied_at.isoformat(),
        "is_active": bool(row.is_active),
    }


def change_to_dict(row: ParameterChange) -> dict[str, Any]:
    """Return a change-log entry as JSON-ready data."""
    return {
        "id": row.id,
        "symbol": row.symbol,
        "timeframe": row.timeframe,
        "strategy": row.strategy,
        "action": row.action,
        "dry_run": row.dry_run,
        "before": row.before,
        "after": row.after,
        "reason": row.reason,
        "actor": row.actor,
        "improvement_pct": row.improvement_pct,
        "set_id": row.set_id,
        "job_id": row.job_id,
        "run_id": row.run_id,
        "created_at": row.created_at.isoformat(),
    }


def active_row(*, symbol: str, timeframe: str, strategy: str) -> ProductionParameterSet | None:
    """Return the active set's row of a slice, or None (production trades the defaults)."""
    return db.session.scalar(
        select(ProductionParameterSet).where(
            *_market(ProductionParameterSet, symbol, timeframe, strategy), ProductionParameterSet.is_active.is_(True)
        )
    )


def row_as_of(*, symbol: str, timeframe: str, strategy: str, at) -> ProductionParameterSet | None:
    """Return the set production used for a slice at ``at`` (naive UTC): the last one applied by then, or None.

    The history keeps every applied set (a rollback adds a copy), so the last
    one applied at or before ``at`` is the one that was active. Not seen: a
    slice reset to its defaults without a new set (this returns the last set).
    """
    return db.session.scalar(
        select(ProductionParameterSet)
        .where(*_market(ProductionParameterSet, symbol, timeframe, strategy), ProductionParameterSet.applied_at <= at)
        .order_by(ProductionParameterSet.applied_at.desc(), ProductionParameterSet.id.desc())
        .limit(1)
    )


def applied_times(*, symbol: str, timeframe: str, strategy: str) -> list[tuple[datetime, int]]:
    """Every set of a slice as (applied_at, id), in that order: ``row_as_of`` at ``at`` is the last one up to it."""
    rows = db.session.execute(
        select(ProductionParameterSet.applied_at, ProductionParameterSet.id)
        .where(*_market(ProductionParameterSet, symbol, timeframe, strategy))
        .order_by(ProductionParameterSet.applied_at, ProductionParameterSet.id)
    )
    return [tuple(row) for row in rows]


def active_set(*, symbol: str, timeframe: str, strategy: str) -> dict[str, Any] | None:
    """Return the active set of a slice as a dict, or None when production trades the defaults."""
    row = active_row(symbol=symbol, timeframe=timeframe, strategy=strategy)
    return set_to_dict(row) if row else None


def set_history(*, symbol: str, timeframe: str, strategy: str) -> list[dict[str, Any]]:
    """Return every set the slice has had, newest first."""
    rows = db.session.scalars(
        select(ProductionParameterSet)
        .where(*_market(ProductionParameterSet, symbol, timeframe, strategy))
        .order_by(ProductionParameterSet.id.desc())
    )
    return [set_to_dict(row) for row in rows]


def change_log(
    *, symbol: str | None = None, timeframe: str | None = None, strategy: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Return the newest ``limit`` change-log entries, optionally of one symbol / timeframe / strategy."""
    if limit < 1:
        raise ValidationError("limit must be at least 1")
    query = select(ParameterChange).order_by(ParameterChange.id.desc()).limit(limit)
    for column, value in (
        (ParameterChange.symbol, symbol),
        (ParameterChange.timeframe, timeframe),
        (ParameterChange.strategy, strategy),
    ):
        if value is not None:
            query = query.where(column == value)
    return [change_to_dict(row) for row in db.session.scalars(query)]


def default_params(strategy: str) -> dict[str, Any]:
    """The strategy's declared defaults with the ``PRODUCTION_PARAMS`` config overrides of its own parameters."""
    space = get_strategy(strategy).space
    overrides = (current_app.config.get("PRODUCTION_PARAMS") or {}) if has_app_context() else {}
    return space.validate({name: value for name, value in overrides.items() if name in space.names})


def validated_params(strategy: str, params: dict[str, Any]) -> dict[str, Any]:
    """Return ``params`` validated by the strategy's declared space; ValidationError naming the problem."""
    try:
        return get_strategy(strategy).space.validate(params)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def log_change(
    *,
    symbol: str,
    timeframe: str,
    strategy: str,
    action: str,
    reason: str,
    actor: str,
    dry_run: bool = False,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    improvement_pct: float | None = None,
    set_id: int | None = None,
    job_id: int | None = None,
    run_id: int | None = None,
) -> ParameterChange:
    """Add one change-log entry to the session (the caller commits)."""
    entry = ParameterChange(
        symbol=symbol,
        timeframe=timeframe,
        strategy=strategy,
        action=ParamAction(action).value,
        dry_run=dry_run,
        before=before,
        after=after,
        reason=reason,
        actor=actor,
        improvement_pct=improvement_pct,
        set_id=set_id,
        job_id=job_id,
        run_id=run_id,
    )
    db.session.add(entry)
    return entry


def apply_set(
    *,
    symbol: str,
    timeframe: str,
    strategy: str,
    params: dict[str, Any],
    source: str,
    actor: str,
    reason: str,
    job_id: int | None = None,
    run_id: int | None = None,
    metrics: dict[str, Any] | None = None,
    regime_sets: dict[str, Any] | None = None,
    improvement_pct: float | None = None,
    restored_from: int | None = None,
    action: str = ParamAction.APPLIED,
) -> dict[str, Any]:
    """Store ``params`` as the slice's new active set (validated), log it, commit; return the new set."""
    if source not in SET_SOURCES:
        raise ValidationError(f"source must be one of {', '.join(SET_SOURCES)}, not '{source}'")
    clean = validated_params(strategy, params)
    previous = active_row(symbol=symbol, timeframe=timeframe, strategy=strategy)
    before = dict(previous.params) if previous else None
    try:
        db.session.execute(
            update(ProductionParameterSet)
            .where(
                *_market(ProductionParameterSet, symbol, timeframe, strategy),
                ProductionParameterSet.is_active.is_(True),
            )
            .values(is_active=None)
            .execution_options(synchronize_session="fetch")
        )
        row = ProductionParameterSet(
            symbol=symbol,
            timeframe=timeframe,
            strategy=strategy,
            params=clean,
            source=ParamSource(source).value,
            job_id=job_id,
            run_id=run_id,
            metrics=metrics,
            regime_sets=regime_sets,
            restored_from=restored_from,
            reason=reason,
            applied_by=actor,
            is_active=True,
        )
        db.session.add(row)
        db.session.flush()
        log_change(
            symbol=symbol,
            timeframe=timeframe,
            strategy=strategy,
            action=action,
            reason=reason,
            actor=actor,
            before=before,
            after=clean,
            improvement_pct=improvement_pct,
            set_id=row.id,
            job_id=job_id,
            run_id=run_id,
        )
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ConflictError(f"{symbol} {timeframe} {strategy}: another change was applied at the same time") from None
    invalidate_parameters()
    return set_to_dict(row)


def rollback(
    *, symbol: str, timeframe: str, strategy: str, to_set_id: int, actor: str, why: str | None = None
) -> dict[str, Any]:
    """Make a copy of an earlier set of the slice the active set (logged, with ``why`` if given); return it."""
    target = db.session.get(ProductionParameterSet, to_set_id)
    if target is None or (target.symbol, target.timeframe, target.strategy) != (symbol, timeframe, strategy):
        raise NotFoundError(f"parameter set {to_set_id} of {symbol} {timeframe} {strategy} not found")
    if target.is_active:
        raise ValidationError(f"parameter set {to_set_id} is already the active set")
    return apply_set(
        symbol=symbol,
        timeframe=timeframe,
        strategy=strategy,
        params=target.params,
        source=target.source,
        actor=actor,
        reason=f"rollback to set {target.id} (applied {target.applied_at:%Y-%m-%d %H:%M} by {target.applied_by})"
        + (f": {why}" if why else ""),
        job_id=target.job_id,
        run_id=target.run_id,
        metrics=target.metrics,
        regime_sets=target.regime_sets,
        restored_from=target.id,
        action=ParamAction.ROLLBACK,
    )
