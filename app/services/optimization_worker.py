"""Evaluate one optimization slice in a worker process (pure: no Flask, no SQLAlchemy).

A slice is one (symbol, timeframe, pattern_type) with its candles and the
job's whole grid. The worker runs the grid in one backtester call, scores
every run (composite and stability scores), re-runs only the best
combination through ``run_backtest_v2`` to keep its trades, and adds the
job's overfitting checks: the robust best (by stability), Monte Carlo on the
best run's trades, and walk-forward validation when the job asks for it. It
never raises: a failure comes back as ``error`` so the job can record it and
go on.
"""

from __future__ import annotations

import hashlib
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from app.services.backtester_v2 import run_backtest_grid, run_backtest_v2
from app.services.scoring import composite_scores, rank_order
from app.services.validation import monte_carlo_simulation, robust_best, stability_scores, walk_forward_validation

# The best run's stored result keeps at most this many trades (newest last), so results_json stays small.
MAX_STORED_TRADES = 2_000


@dataclass(frozen=True)
class SliceTask:
    """Everything a worker needs to evaluate one slice; picklable."""

    symbol: str
    timeframe: str
    pattern_type: str
    candles: pd.DataFrame
    combinations: list[dict[str, Any]]
    costs: dict[str, float]
    ranking_metric: str
    min_trades: int
    validation: str = "none"  # "none" | "walk_forward"
    monte_carlo: bool = False
    seed: int = 0

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.symbol, self.timeframe, self.pattern_type)


@dataclass
class SliceResult:
    """What a worker found for one slice: one metrics row per combination, or an error."""

    key: tuple[str, str, str]
    fingerprint: str
    metrics: pd.DataFrame | None = None
    best_position: int | None = None
    best_result: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0


def candles_fingerprint(candles: pd.DataFrame) -> str:
    """Return the SHA-256 of the candles' timestamps and OHLCV values (identifies the exact data)."""
    digest = hashlib.sha256(candles.index.as_unit("ms").asi8.tobytes())
    digest.update(candles[["open", "high", "low", "close", "volume"]].to_numpy(dtype="float64").tobytes())
    return digest.hexdigest()


def evaluate_slice(task: SliceTask) -> SliceResult:
    """Run the task's grid, add composite scores, and keep the best run's trades."""
    started = time.perf_counter()
    result = SliceResult(key=task.key, fingerprint=candles_fingerprint(task.candles))
    try:
        metrics = run_backtest_grid(
            task.candles, pattern_type=task.pattern_type, combinations=task.combinations, **task.costs
        )
        metrics["composite_score"] = composite_scores(metrics, min_trades=task.min_trades)
        metrics["stability_score"] = stability_scores(metrics, metric=task.ranking_metric)
        best = int(rank_order(metrics, metric=task.ranking_metric, min_trades=task.min_trades)[0])
        result.metrics = metrics
        result.best_position = best
        full = _backtest(task, task.combinations[best])
        result.best_result = _stored_details(full)
        result.checks = _overfitting_checks(task, metrics, full)
    except Exception as exc:  # noqa: BLE001 - a slice failure is data for the job, not a crash
        result.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
    result.seconds = time.perf_counter() - started
    return result


def _overfitting_checks(task: SliceTask, metrics: pd.DataFrame, best_run: dict[str, Any]) -> dict[str, Any]:
    checks: dict[str, Any] = {
        "robust": robust_best(metrics, metric=task.ranking_metric, min_trades=task.min_trades),
    }
    if task.monte_carlo:
        checks["monte_carlo"] = monte_carlo_simulation(best_run["trades"], seed=task.seed)
    if task.validation == "walk_forward":
        checks["walk_forward"] = walk_forward_validation(
            task.candles,
            pattern_type=task.pattern_type,
            parameter_grid=task.combinations,
            metric=task.ranking_metric,
            min_trades=task.min_trades,
            **task.costs,
        )
    return checks


def best_run_details(task: SliceTask, params: dict[str, Any]) -> dict[str, Any]:
    """Return the trades and equity curve of one combination (what results_json keeps)."""
    return _stored_details(_backtest(task, params))


def _backtest(task: SliceTask, params: dict[str, Any]) -> dict[str, Any]:
    return run_backtest_v2(
        task.symbol,
        task.timeframe,
        pattern_type=task.pattern_type,
        candles=task.candles,
        rr_target=params["rr_target"],
        sl_buffer_pct=params["sl_buffer_pct"],
        entry_method=params["entry_method"],
        tp_method=params["tp_method"],
        min_zone_pct=params["min_zone_pct"],
        use_overlap_detection=params["use_overlap"],
        **task.costs,
    )


def _stored_details(full: dict[str, Any]) -> dict[str, Any]:
    trades = full["trades"]
    return {
        "trades": trades[-MAX_STORED_TRADES:],
        "trades_total": len(trades),
        "equity_curve": full.get("equity_curve", [])[-MAX_STORED_TRADES:],
    }
