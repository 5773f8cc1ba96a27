"""Stored optimization results built by hand, so the auto-tuner's every branch can be reached without a sweep."""

from __future__ import annotations

from typing import Any

from app.extensions import db
from app.models import OptimizationJob, OptimizationRun, OptimizationSlice
from app.models.optimization import METRIC_COLUMNS
from app.strategies import get_strategy

SLICE = {"symbol": "BTC/USDT", "timeframe": "1d", "strategy": "imbalance"}
DEFAULTS = get_strategy("imbalance").space.defaults
BETTER = {**DEFAULTS, "rr_target": 3.0}


def metrics(**values: Any) -> dict[str, Any]:
    """A full metrics row: zeros, with ``values`` on top (composite_score given or 0)."""
    row = dict.fromkeys(METRIC_COLUMNS, 0.0)
    row.update(total_trades=0, winning_trades=0, losing_trades=0, max_consecutive_losses=0)
    row.update(values)
    return row


def selection(*, dsr: float = 0.99, pbo: float = 0.05) -> dict[str, Any]:
    """A slice's measured ``selection`` check whose best (and robust best) run has ``dsr``, the slice ``pbo``."""
    chosen = {"sharpe": 2.0, "psr": 0.999, "dsr": dsr, "days": 1461, "skew": 0.0, "kurtosis": 3.0}
    return {
        "status": "measured",
        "trials": {"job": 1010, "prior": 0, "cumulative": 1010, "effective": 84, "effective_cumulative": 84},
        "pbo": {"pbo": pbo, "degradation_slope": -0.2, "prob_oos_loss": 0.1, "blocks": 16, "splits": 12870},
        "best": chosen,
        "robust": chosen,
    }


PASSING = selection()


def stored_job(
    runs: list[tuple[dict[str, Any], dict[str, Any]]],
    *,
    best: int | None = 0,
    validation: str = "walk_forward",
    walk_forward_oos: float | None = 0.1,
    selection: dict[str, Any] | None = PASSING,
    min_trades: int = 10,
    symbol: str = "BTC/USDT",
    timeframe: str = "1d",
    strategy: str = "imbalance",
    job: OptimizationJob | None = None,
) -> tuple[OptimizationJob, OptimizationSlice, list[OptimizationRun]]:
    """Store a completed job with one slice and ``runs`` (params, metrics); ``best`` is the best and robust run.

    By default the job ran walk-forward with a positive out-of-sample result and the slice's selection
    statistics pass the gate: the evidence a promotion needs, so each test changes only what it is about.
    ``job``: add the slice to that job instead (another symbol of the same sweep).
    """
    job = job or _job(
        runs, validation=validation, min_trades=min_trades, symbol=symbol, timeframe=timeframe, strategy=strategy
    )
    checks: dict[str, Any] = {"selection": selection} if selection else {}
    if walk_forward_oos is not None:
        checks["walk_forward"] = {"summary": {"out_of_sample": metrics(expectancy_r=walk_forward_oos, total_trades=40)}}
    slice_ = OptimizationSlice(
        job_id=job.id,
        status="completed",
        run_count=len(runs),
        checks_json=checks or None,
        symbol=symbol,
        timeframe=timeframe,
        strategy=strategy,
        candles_fingerprint="f" * 64,
    )
    db.session.add(slice_)
    db.session.flush()
    space = get_strategy(strategy).space
    rows = []
    for params, values in runs:
        clean = space.validate(params)
        row = OptimizationRun(job_id=job.id, slice_id=slice_.id, param_key=space.key(clean), params=clean, **values)
        rows.append(row)
    db.session.add_all(rows)
    db.session.flush()
    if best is not None:
        slice_.best_run_id = slice_.robust_run_id = rows[best].id
    db.session.commit()
    return job, slice_, rows


def _job(runs, *, validation: str, min_trades: int, symbol: str, timeframe: str, strategy: str) -> OptimizationJob:
    job = OptimizationJob(
        name="hand-made",
        status="completed",
        symbols=[symbol],
        timeframes=[timeframe],
        strategies=[strategy],
        start_date="2021-01-01",
        end_date="2024-12-31",
        parameter_grids={strategy: {}},
        maker_fee_pct=0.1,
        taker_fee_pct=0.1,
        slippage_pct=0.05,
        risk_per_trade_pct=1.0,
        min_trades=min_trades,
        validation=validation,
        total_runs=len(runs),
        completed_runs=len(runs),
    )
    db.session.add(job)
    db.session.flush()
    return job


def good(**values: Any) -> dict[str, Any]:
    """Metrics of a trustworthy, profitable run."""
    base = {"total_trades": 60, "expectancy_r": 0.3, "total_profit_pct": 40.0, "sharpe_ratio": 1.2, "max_drawdown": 8.0}
    base.update(values)
    return metrics(**base)
