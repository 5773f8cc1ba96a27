"""Optimization jobs, their slices (symbol x timeframe x strategy) and the runs each slice stores.

Runs hold their parameters generically (a JSON ``params`` column plus the
canonical ``param_key`` of the strategy's declared space, unique per slice),
so every strategy's runs share one table; metrics stay real columns so SQL
can rank them. What describes a slice once (its candles' fingerprint, its
best and robust best run, its validation and Monte Carlo results) lives on
the slice row, written in the same transaction as the slice's runs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Double, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.metrics import METRIC_NAMES
from app.enums import JobStatus, ValidationMode
from app.extensions import db
from app.models._time import utcnow

# Metrics of every run, stored as columns so they can be ranked in SQL: the engine's plus the composite score.
METRIC_COLUMNS = (*METRIC_NAMES, "composite_score")


class OptimizationJob(db.Model):
    """A batch of backtests: symbols x timeframes x strategies, each strategy with its parameter grid."""

    __tablename__ = "optimization_jobs"
    __table_args__ = (Index("ix_optimization_jobs_status_created", "status", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.PENDING)

    # Scope (JSON arrays), the date range (ISO dates as given) and one grid per strategy.
    symbols: Mapped[list[str]] = mapped_column(JSON)
    timeframes: Mapped[list[str]] = mapped_column(JSON)
    strategies: Mapped[list[str]] = mapped_column(JSON)
    start_date: Mapped[str] = mapped_column(String(20))
    end_date: Mapped[str] = mapped_column(String(20))
    parameter_grids: Mapped[dict[str, dict[str, list[Any]]]] = mapped_column(JSON)

    # Cost model (app.core.costs) and ranking, fixed at creation so every run of the job is comparable.
    maker_fee_pct: Mapped[float] = mapped_column(Double)
    taker_fee_pct: Mapped[float] = mapped_column(Double)
    slippage_pct: Mapped[float] = mapped_column(Double)
    risk_per_trade_pct: Mapped[float] = mapped_column(Double)
    ranking_metric: Mapped[str] = mapped_column(String(30), default="composite_score")
    min_trades: Mapped[int] = mapped_column(Integer, default=10)

    # Overfitting defences: walk-forward per slice, Monte Carlo on each slice's best run (results on the
    # slices), and the lookahead guard's verdict per strategy (in validation_json["lookahead"]).
    validation: Mapped[str] = mapped_column(String(20), default=ValidationMode.NONE, server_default="none")
    monte_carlo: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    validation_json: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), default=None)

    # Progress.
    total_runs: Mapped[int] = mapped_column(Integer, default=0)
    completed_runs: Mapped[int] = mapped_column(Integer, default=0)
    failed_runs: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[str | None] = mapped_column(Text, default=None)

    # Claiming: one process owns a running job under a lease (a fencing token incremented by every claim;
    # every write of the runner requires it unchanged) and proves it is alive with a heartbeat.
    claimed_by: Mapped[str | None] = mapped_column(String(100), default=None)
    lease: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)

    slices: Mapped[list[OptimizationSlice]] = relationship(
        back_populates="job", lazy="dynamic", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def costs(self) -> dict[str, float]:
        """The job's cost model as a dict (``app.core.costs.CostModel`` fields)."""
        return {
            "maker_fee_pct": self.maker_fee_pct,
            "taker_fee_pct": self.taker_fee_pct,
            "slippage_pct": self.slippage_pct,
            "risk_per_trade_pct": self.risk_per_trade_pct,
        }

    @property
    def progress_pct(self) -> float:
        done = self.completed_runs + self.failed_runs
        return round(100.0 * done / self.total_runs, 1) if self.total_runs else 0.0

    def __repr__(self) -> str:
        return f"<OptimizationJob {self.id} {self.name} {self.status}>"


class OptimizationSlice(db.Model):
    """One (symbol, timeframe, strategy) of a job once evaluated: its outcome, best runs and checks."""

    __tablename__ = "optimization_slices"
    __table_args__ = (
        UniqueConstraint("job_id", "symbol", "timeframe", "strategy", name="uq_optimization_slice"),
        Index("ix_optimization_slices_market", "symbol", "timeframe", "strategy"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("optimization_jobs.id", ondelete="CASCADE"))
    symbol: Mapped[str] = mapped_column(String(20))
    timeframe: Mapped[str] = mapped_column(String(5))
    strategy: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20))
    run_count: Mapped[int] = mapped_column(Integer, default=0)
    # SHA-256 of the exact candles the slice used, so a result can be reproduced or flagged stale.
    candles_fingerprint: Mapped[str | None] = mapped_column(String(64), default=None)
    # Best by the job's ranking metric, and robust best by stability score (run ids; None when no run qualifies).
    best_run_id: Mapped[int | None] = mapped_column(Integer, default=None)
    robust_run_id: Mapped[int | None] = mapped_column(Integer, default=None)
    # Per rankable metric (robust: "stability_score"), the best run among those with >= the job's min_trades
    # trades, so the best-parameter tables answer from the slice rows (None: no run qualifies).
    best_runs: Mapped[dict[str, int | None] | None] = mapped_column(JSON(none_as_null=True), default=None)
    # Monte Carlo and walk-forward results of this slice (app.evaluation.validation shapes).
    checks_json: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    seconds: Mapped[float] = mapped_column(Double, default=0.0)
    stored_at: Mapped[datetime] = mapped_column(default=utcnow)

    job: Mapped[OptimizationJob] = relationship(back_populates="slices")

    @property
    def label(self) -> str:
        """The slice as text: ``BTC/USDT|1h|imbalance``."""
        return f"{self.symbol}|{self.timeframe}|{self.strategy}"


class OptimizationRun(db.Model):
    """One backtest of one slice with one parameter set of the slice's strategy."""

    __tablename__ = "optimization_runs"
    __table_args__ = (
        # Nothing is stored twice: resuming a job can never duplicate a run.
        UniqueConstraint("slice_id", "param_key", name="uq_optimization_run"),
        Index("idx_opt_run_job", "job_id"),
        Index("idx_opt_run_slice_score", "slice_id", "composite_score"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("optimization_jobs.id", ondelete="CASCADE"))
    slice_id: Mapped[int] = mapped_column(ForeignKey("optimization_slices.id", ondelete="CASCADE"))
    param_key: Mapped[str] = mapped_column(String(20))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)

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
    stability_score: Mapped[float] = mapped_column(Double, default=0.0)
    # Small by design: trades only for the best run of each slice (others are recomputed on demand).
    results_json: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), default=None)

    slice: Mapped[OptimizationSlice] = relationship()

    def metrics(self) -> dict[str, Any]:
        """Return the stored metrics by name."""
        return {name: getattr(self, name) for name in METRIC_COLUMNS}
