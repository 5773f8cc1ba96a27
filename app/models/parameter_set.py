"""Production parameter sets per (symbol, timeframe, strategy) and the change log of every decision about them.

A set is never edited after it is stored: applying, rolling back or
changing by hand inserts a new row and moves the ``is_active`` mark, so the
history of a slice is its rows in id order. ``is_active`` is True on the one
active set and NULL on every other, so a unique index on (slice, is_active)
lets the database itself refuse a second active set (NULLs never collide).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Double, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models._time import utcnow


class ProductionParameterSet(db.Model):
    """One parameter set production used (or uses) for one slice, with its origin and validated metrics."""

    __tablename__ = "production_parameter_sets"
    __table_args__ = (
        UniqueConstraint("symbol", "timeframe", "strategy", "is_active", name="uq_production_parameter_active"),
        Index("ix_production_parameter_sets_market", "symbol", "timeframe", "strategy", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    symbol: Mapped[str] = mapped_column(String(20))
    timeframe: Mapped[str] = mapped_column(String(5))
    strategy: Mapped[str] = mapped_column(String(30))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    # app.enums.ParamSource: job (a job's best), run (one run chosen by hand), manual.
    source: Mapped[str] = mapped_column(String(10))
    job_id: Mapped[int | None] = mapped_column(Integer, default=None)
    run_id: Mapped[int | None] = mapped_column(Integer, default=None)
    # {"in_sample": {...}, "out_of_sample": {...} | None, "end_date": job end, "candles_fingerprint": ...}
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), default=None)
    # Per market regime, a set the job evaluated with enough trades in that regime ({label: {params, metrics}}).
    regime_sets: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), default=None)
    # A rollback copies an earlier set: its id.
    restored_from: Mapped[int | None] = mapped_column(Integer, default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    applied_by: Mapped[str] = mapped_column(String(100))
    applied_at: Mapped[datetime] = mapped_column(default=utcnow)
    # True on the active set, NULL otherwise (see the module docstring).
    is_active: Mapped[bool | None] = mapped_column(Boolean, default=True)


class ParameterChange(db.Model):
    """One proposal, application, skip or rollback: before, after, reason, actor, dry run or not."""

    __tablename__ = "parameter_changes"
    __table_args__ = (
        Index("ix_parameter_changes_market", "symbol", "timeframe", "strategy", "id"),
        Index("ix_parameter_changes_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    symbol: Mapped[str] = mapped_column(String(20))
    timeframe: Mapped[str] = mapped_column(String(5))
    strategy: Mapped[str] = mapped_column(String(30))
    # app.enums.ParamAction
    action: Mapped[str] = mapped_column(String(10))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), default=None)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    improvement_pct: Mapped[float | None] = mapped_column(Double, default=None)
    # The production set this change created (applied / rollback), and the job/run it judged.
    set_id: Mapped[int | None] = mapped_column(Integer, default=None)
    job_id: Mapped[int | None] = mapped_column(Integer, default=None)
    run_id: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
