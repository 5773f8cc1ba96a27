"""Evaluate one optimization slice in a worker process (pure: no Flask, no SQLAlchemy).

A slice is one (symbol, timeframe, strategy) with its candles and the
strategy's grid. The worker runs the grid in one backtester call, scores every
run (composite and stability scores), keys every parameter set, re-runs only
the best set through ``run_backtest`` to keep its trades, and adds the job's
overfitting checks: the robust best (by stability), Monte Carlo on the best
run's trades, and walk-forward validation when the job asks for it; and the
per-regime results of the top runs (``regime_evaluation``: the best run's
trades are stored tagged with the regime known at their signal). It never
raises: a failure comes back as ``error`` so the job can record it and go on.
"""

from __future__ import annotations

import hashlib
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from app.enums import ValidationMode
from app.services.backtester_v2 import run_backtest, run_backtest_grid
from app.services.costs import CostModel
from app.services.regime_evaluation import evaluate_regimes
from app.services.scoring import RANKING_METRICS, composite_scores, rank_order
from app.services.validation import monte_carlo_simulation, robust_best, stability_scores, walk_forward_validation
from app.strategies import get_strategy

# The best run's stored result keeps at most this many trades (newest last), so results_json stays small.
MAX_STORED_TRADES = 2_000

SliceKey = tuple[str, str, str]


@dataclass(frozen=True)
class SliceTask:
    """Everything a worker needs to evaluate one slice; picklable."""

    symbol: str
    timeframe: str
    strategy: str
    candles: pd.DataFrame
    combinations: list[dict[str, Any]]
    costs: CostModel
    ranking_metric: str
    min_trades: int
    validation: str = ValidationMode.NONE
    monte_carlo: bool = False
    seed: int = 0

    @property
    def key(self) -> SliceKey:
        return (self.symbol, self.timeframe, self.strategy)


@dataclass
class SliceResult:
    """What a worker found for one slice: one metrics row per combination (with its key), or an error."""

    key: SliceKey
    fingerprint: str
    metrics: pd.DataFrame | None = None
    param_keys: list[str] = field(default_factory=list)
    best_position: int | None = None
    robust_position: int | None = None
    # Per rankable metric, the best run among those with >= min_trades trades (None: no run qualifies).
    best_by_metric: dict[str, int | None] = field(default_factory=dict)
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
    """Run the task's grid, add composite and stability scores, and keep the best run's trades."""
    started = time.perf_counter()
    result = SliceResult(key=task.key, fingerprint=candles_fingerprint(task.candles))
    try:
        space = get_strategy(task.strategy).space
        metrics = run_backtest_grid(
            task.candles, strategy=task.strategy, combinations=task.combinations, costs=task.costs
        )
        metrics["composite_score"] = composite_scores(metrics, min_trades=task.min_trades)
        metrics["stability_score"] = stability_scores(metrics, space=space, metric=task.ranking_metric)
        best = int(rank_order(metrics, metric=task.ranking_metric, min_trades=task.min_trades)[0])
        robust = robust_best(metrics, space=space, metric=task.ranking_metric, min_trades=task.min_trades)
        result.metrics = metrics
        result.param_keys = [space.key(params) for params in task.combinations]
        result.best_position = best
        result.robust_position = robust["robust"]["position"] if robust["robust"] else None
        result.best_by_metric = best_by_metric(metrics, min_trades=task.min_trades)
        full = run_backtest(task.candles, strategy=task.strategy, params=task.combinations[best], costs=task.costs)
        full["trades"], regimes = evaluate_regimes(
            task.candles,
            strategy=task.strategy,
            combinations=task.combinations,
            metrics=metrics,
            ranking_metric=task.ranking_metric,
            min_trades=task.min_trades,
            costs=task.costs,
            best_position=best,
            best_trades=full["trades"],
        )
        result.best_result = stored_details(full)
        result.checks = {**_overfitting_checks(task, full), "regimes": regimes}
    except Exception as exc:  # noqa: BLE001 - a slice failure is data for the job, not a crash
        result.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
    result.seconds = time.perf_counter() - started
    return result


def best_by_metric(metrics: pd.DataFrame, *, min_trades: int) -> dict[str, int | None]:
    """Return, per rankable metric, the position of the best run with >= min_trades trades (first in grid order
    on ties, like ``results.best_params``); None where no run has enough trades."""
    trusted = metrics["total_trades"].to_numpy() >= min_trades
    if not trusted.any():
        return dict.fromkeys(RANKING_METRICS)
    return {metric: int(rank_order(metrics, metric=metric, min_trades=min_trades)[0]) for metric in RANKING_METRICS}


def _overfitting_checks(task: SliceTask, best_run: dict[str, Any]) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    if task.monte_carlo:
        checks["monte_carlo"] = monte_carlo_simulation(best_run["trades"], seed=task.seed)
    if task.validation == ValidationMode.WALK_FORWARD:
        checks["walk_forward"] = walk_forward_validation(
            task.candles,
            strategy=task.strategy,
            parameter_grid=task.combinations,
            metric=task.ranking_metric,
            min_trades=task.min_trades,
            costs=task.costs,
        )
    return checks


def stored_details(full: dict[str, Any]) -> dict[str, Any]:
    """Return what results_json keeps of a full backtest: the newest trades and equity points."""
    trades = full["trades"]
    return {
        "trades": trades[-MAX_STORED_TRADES:],
        "trades_total": len(trades),
        "equity_curve": full.get("equity_curve", [])[-MAX_STORED_TRADES:],
    }
