"""Read-service benchmark (section ``runs`` of tools/benchmark.py): the runs table, heatmap and CSV of a sweep.

A full weekly sweep's shape is stored directly, without computing it: 5 pairs
x {30m, 1h, 4h, 1d} x the 3 pattern strategies x their DEFAULT grids (960
parameter sets each) = 57,600 runs with the real parameter sets and canonical
keys and seeded random metrics, one slice row each with its best run. That
is what the read services see after a real sweep (the metrics' values do not
change their cost), in seconds instead of the sweep's compute time.
``tools/load_api.py`` stores the same job.

Set ``RUNS_BENCH_DATABASE_URL`` to time a MySQL/MariaDB database instead of
a fresh SQLite file (every table in it is dropped first: a throw-away one).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

SWEEP_PAIRS = ("BTC", "ETH", "SOL", "XRP", "BNB")
SWEEP_TIMEFRAMES = ("30m", "1h", "4h", "1d")
SWEEP_RANGE = ("2020-09-20", "2025-09-19")


def store_sweep_shape(*, seed: int = 0, name: str = "stored weekly sweep") -> int:
    """Store a completed job with the weekly sweep's slices and runs (random metrics); return its id."""
    from sqlalchemy import insert, select, update

    from app.core.costs import resolve_costs
    from app.enums import JobStatus, SliceStatus
    from app.extensions import db
    from app.models import OptimizationJob, OptimizationRun, OptimizationSlice
    from app.models._time import utcnow
    from app.models.optimization import METRIC_COLUMNS
    from app.strategies import PATTERN, get_strategy, strategy_names

    rng = np.random.default_rng(seed)
    strategies = list(strategy_names(PATTERN))
    grids = {s: get_strategy(s).space.preset("default") for s in strategies}
    combos = {s: get_strategy(s).space.expand(g) for s, g in grids.items()}
    total = len(SWEEP_PAIRS) * len(SWEEP_TIMEFRAMES) * sum(len(c) for c in combos.values())
    now = utcnow()
    job = OptimizationJob(
        name=name,
        status=JobStatus.COMPLETED,
        symbols=[f"{p}/USDT" for p in SWEEP_PAIRS],
        timeframes=list(SWEEP_TIMEFRAMES),
        strategies=strategies,
        start_date=SWEEP_RANGE[0],
        end_date=SWEEP_RANGE[1],
        parameter_grids=grids,
        **resolve_costs(None).as_dict(),
        total_runs=total,
        completed_runs=total,
        started_at=now,
        completed_at=now,
        summary=f"{total} of {total} runs completed, 0 failed (stored shape, random metrics)",
    )
    db.session.add(job)
    db.session.flush()
    for pair in SWEEP_PAIRS:
        for timeframe in SWEEP_TIMEFRAMES:
            for strategy in strategies:
                space = get_strategy(strategy).space
                slice_id = db.session.execute(
                    insert(OptimizationSlice).values(
                        job_id=job.id,
                        symbol=f"{pair}/USDT",
                        timeframe=timeframe,
                        strategy=strategy,
                        status=SliceStatus.COMPLETED,
                        run_count=len(combos[strategy]),
                        stored_at=now,
                    )
                ).inserted_primary_key[0]
                rows = _random_runs(rng, job.id, slice_id, combos[strategy], space.key, METRIC_COLUMNS)
                db.session.execute(insert(OptimizationRun), rows)
                best = db.session.scalar(
                    select(OptimizationRun.id)
                    .where(OptimizationRun.slice_id == slice_id)
                    .order_by(OptimizationRun.composite_score.desc(), OptimizationRun.id)
                    .limit(1)
                )
                db.session.execute(
                    update(OptimizationSlice)
                    .where(OptimizationSlice.id == slice_id)
                    .values(best_run_id=best, robust_run_id=best)
                )
    db.session.commit()
    return job.id


def _random_runs(rng, job_id, slice_id, combinations, key, metric_columns) -> list[dict]:
    n = len(combinations)
    trades = rng.integers(0, 400, n)
    wins = (trades * rng.uniform(0.2, 0.6, n)).astype(int)
    metrics = {name: rng.normal(0, 10, n) for name in metric_columns}
    metrics.update(
        total_trades=trades,
        winning_trades=wins,
        losing_trades=trades - wins,
        max_consecutive_losses=rng.integers(0, 20, n),
        max_drawdown=rng.uniform(0, 60, n),
        win_rate=np.where(trades > 0, wins / np.maximum(trades, 1) * 100, 0.0),
    )
    stability = rng.normal(0, 1, n)
    return [
        {
            "job_id": job_id,
            "slice_id": slice_id,
            "param_key": key(params),
            "params": params,
            **{name: values[i].item() for name, values in metrics.items()},
            "stability_score": stability[i].item(),
        }
        for i, params in enumerate(combinations)
    ]


def section_runs(data_dir: Path) -> None:  # noqa: ARG001 - sections take the data directory
    """Time the runs table, CSV, heatmap and importance over a stored 57,600-run sweep."""

    url = os.environ.get("RUNS_BENCH_DATABASE_URL")
    if not url:
        from tools.benchmark_sweep import fresh_app

        with fresh_app([]):
            _time_services()
        return
    with mysql_app(url):
        _time_services()


@contextmanager
def mysql_app(url: str) -> Iterator[object]:
    """Yield an app (inside its context) on the throw-away database ``url``, emptied and migrated."""
    from flask_migrate import upgrade
    from sqlalchemy import create_engine, inspect, text

    from app import create_app

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
        for table in inspect(connection).get_table_names():
            connection.execute(text(f"DROP TABLE `{table}`"))
    engine.dispose()
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    try:
        app = create_app()
        with app.app_context():
            upgrade()
            yield app
    finally:
        if previous is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = previous


def _time_services() -> None:
    from app.extensions import db
    from app.services.optimizer import jobs, results
    from tools.benchmark_sweep import best_seconds

    started = time.perf_counter()
    job_id = store_sweep_shape()
    print(
        f"runs: stored {jobs.get_job(job_id).total_runs:,} runs in {time.perf_counter() - started:.1f}s "
        f"on {db.engine.dialect.name}"
    )
    cursor = results.query_runs(job_id, limit=50)["next_cursor"]
    slice_ = ("ETH/USDT", "1h", "order_block")
    cases = {
        "runs page 1 (50 rows, composite_score desc, total)": lambda: results.query_runs(job_id),
        "runs page 2 by cursor": lambda: results.query_runs(job_id, cursor=cursor),
        "runs page at offset 50,000": lambda: results.query_runs(job_id, offset=50_000),
        "runs sorted by sharpe_ratio asc, min_trades 10": lambda: results.query_runs(
            job_id, sort="sharpe_ratio", descending=False, min_trades=10
        ),
        "runs of one slice": lambda: results.query_runs(job_id, slice=slice_),
        "runs with rr_target=2.0 and tp_method=swing_target": lambda: results.query_runs(
            job_id, params={"rr_target": 2.0, "tp_method": "swing_target"}
        ),
        "best runs only": lambda: results.query_runs(job_id, best_only=True),
        "heatmap rr_target x sl_buffer_pct (newest job)": lambda: results.compare_matrix(
            symbol="BTC/USDT", timeframe="1h", strategy="imbalance", x="rr_target", y="sl_buffer_pct", fold="median"
        ),
        "heatmap with job_id": lambda: results.compare_matrix(
            job_id=job_id, symbol="BTC/USDT", timeframe="1h", strategy="imbalance", x="rr_target", y="sl_buffer_pct"
        ),
        "parameter importance of one slice": lambda: results.parameter_importance(
            job_id=job_id, symbol="BTC/USDT", timeframe="1h", strategy="imbalance"
        ),
        "job_progress + job_report": lambda: (jobs.job_progress(jobs.get_job(job_id)), jobs.job_report(job_id)),
    }
    for label, fn in cases.items():
        print(f"runs: {label}: {best_seconds(fn) * 1000:.1f} ms (best of 5)")
    started = time.perf_counter()
    lines = sum(1 for _ in results.runs_csv(job_id))
    print(f"runs: CSV of the whole job, {lines:,} lines: {time.perf_counter() - started:.2f}s")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    section_runs(Path("."))
