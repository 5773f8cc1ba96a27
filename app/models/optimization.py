"""Optimization jobs and the runs (one per slice and parameter set) they store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Double, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models._time import utcnow
from app.services.backtest_engine import METRIC_NAMES

JOB_STATUSES = ("pending", "running", "completed", "failed")
VALIDATION_MODES = ("none", "walk_forward")
RUN_STATUSES = ("pending", "completed", "failed")

# The six grid parameters, in the order they appear in keys and tables.
PARAMETER_COLUMNS = ("rr_target", "sl_buffer_pct", "tp_method", "entry_method", "min_zone_pct", "use_overlap")

# Metrics of every run, stored as columns so they can be ranked in SQL: the backtester's, plus the composite score.
METRIC_COLUMNS = (*METRIC_NAMES, "composite_score")


class OptimizationJob(db.Model):
    """A batch of backtests: symbols x timeframes x pattern types x a parameter grid."""

    __tablename__ = "optimization_jobs"
    __table_args__ = (Index("ix_optimization_jobs_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(20), default="pending")

    # Scope (JSON arrays) and the date range, ISO dates as given.
    symbols: Mapped[list[str]] = mapped_column(JSON)
    timeframes: Mapped[list[str]] = mapped_column(JSON)
    pattern_types: Mapped[list[str]] = mapped_column(JSON)
    start_date: Mapped[str] = mapped_column(String(20))
    end_date: Mapped[str] = mapped_column(String(20))
    parameter_grid: Mapped[dict[str, list[Any]]] = mapped_column(JSON)

    # Cost model and ranking, fixed at creation so every run of the job is comparable.
    commission_pct: Mapped[float] = mapped_column(Double, default=0.1)
    slippage_pct: Mapped[float] = mapped_column(Double, default=0.05)
    risk_per_trade_pct: Mapped[float] = mapped_column(Double, default=1.0)
    ranking_metric: Mapped[str] = mapped_column(String(30), default="composite_score")
    min_trades: Mapped[int] = mapped_column(Integer, default=10)

    # Overfitting defences: walk-forward per slice ("none" | "walk_forward"), Monte Carlo on each
    # slice's best run, and the lookahead guard's verdict; results per slice in validation_json.
    validation: Mapped[str] = mapped_column(String(20), default="none", server_default="none")
    monte_carlo: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    validation_json: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), default=None)

    # Progress.
    total_runs: Mapped[int] = mapped_column(Integer, default=0)
    completed_runs: Mapped[int] = mapped_column(Integer, default=0)
    failed_runs: Mapped[int] = mapped_column(Integer, default=0)

    # Results: best run per slice, and a human summary of how the job ended.
    best_params_json: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), default=None)
    summary: Mapped[str | None] = mapped_column(Text, default=None)

    # Claiming: one process owns a running job and proves it is alive with a heartbeat.
    claimed_by: Mapped[str | None] = mapped_column(String(100), default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)

    runs: Mapped[list[OptimizationRun]] = relationship(
        back_populates="job", lazy="dynamic", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def progress_pct(self) -> float:
        done = self.completed_runs + self.failed_runs
        return round(100.0 * done / self.total_runs, 1) if self.total_runs else 0.0

    def __repr__(self) -> str:
        return f"<OptimizationJob {self.id} {self.name} {self.status}>"


class OptimizationRun(db.Model):
    """One backtest of one slice (symbol, timeframe, pattern type) with one parameter set."""

    __tablename__ = "optimization_runs"
    __table_args__ = (
        # Nothing is stored twice: resuming a job can never duplicate a run.
        UniqueConstraint(
            "job_id", "symbol", "timeframe", "pattern_type", *PARAMETER_COLUMNS, name="uq_optimization_run"
        ),
        Index("idx_opt_run_job", "job_id"),
        Index("idx_opt_run_symbol_pattern", "symbol", "pattern_type"),
        Index("idx_opt_run_results", "win_rate", "total_profit_pct"),
        Index("idx_opt_run_slice_score", "job_id", "symbol", "timeframe", "pattern_type", "composite_score"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("optimization_jobs.id", ondelete="CASCADE"))

    symbol: Mapped[str] = mapped_column(String(20))
    timeframe: Mapped[str] = mapped_column(String(5))
    pattern_type: Mapped[str] = mapped_column(String(30))
    start_date: Mapped[str] = mapped_column(String(20))
    end_date: Mapped[str] = mapped_column(String(20))

    rr_target: Mapped[float] = mapped_column(Double)
    sl_buffer_pct: Mapped[float] = mapped_column(Double)
    tp_method: Mapped[str] = mapped_column(String(20))
    entry_method: Mapped[str] = mapped_column(String(20))
    min_zone_pct: Mapped[float] = mapped_column(Double)
    use_overlap: Mapped[bool] = mapped_column(Boolean, default=True)

    status: Mapped[str] = mapped_column(String(20), default="pending")
    total_trades: Mapped[int] = mapped_column(Integer, default=0)
    winning_trades: Mapped[int] = mapped_column(Integer, default=0)
    losing_trades: Mapped[int] = mapped_column(Integer, default=0)
    win_rate: Mapped[float] = mapped_column(Double, default=0.0)
    avg_rr: Mapped[float] = mapped_column(Double, default=0.0)
    total_profit_pct: Mapped[float] = mapped_column(Double, default=0.0)
    max_drawdown: Mapped[float] = mapped_column(Double, default=0.0)
    sharpe_ratio: Mapped[float] = mapped_column(Double, default=0.0)
    sortino_ratio: Mapped[float] = mapped_column(Double, default=0.0)
    profit_factor: Mapped[float] = mapped_column(Double, default=0.0)
    avg_trade_duration: Mapped[float] = mapped_column(Double, default=0.0)
    max_consecutive_losses: Mapped[int] = mapped_column(Integer, default=0)
    win_loss_ratio: Mapped[float] = mapped_column(Double, default=0.0)
    expectancy_r: Mapped[float] = mapped_column(Double, default=0.0)
    composite_score: Mapped[float] = mapped_column(Double, default=0.0)
    # The ranking metric averaged over this run and its one-step grid neighbours (robustness).
    stability_score: Mapped[float] = mapped_column(Double, default=0.0, server_default="0")

    # SHA-256 of the exact candles the slice used, so a result can be reproduced or flagged stale.
    candles_fingerprint: Mapped[str | None] = mapped_column(String(64), default=None)
    # Small by design: trades only for the best run of each slice (see optimizer).
    results_json: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    job: Mapped[OptimizationJob] = relationship(back_populates="runs")

    @property
    def params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in PARAMETER_COLUMNS}
