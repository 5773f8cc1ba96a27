"""The ``params`` section of tools/benchmark.py: the optimal-parameter service on a database with a sweep stored.

A fresh SQLite file gets the sweep's candles (5 pairs x 30m/1h/4h/1d, as
``benchmark_sweep``) and one weekly sweep's results: every registered
strategy's DEFAULT grid on each of the 20 markets (about 99,000 runs). The
run metrics are drawn at random (seeded) instead of computed, because the
service never reads runs and computing them is the ``sweep_all`` section's
job; the tables hold the same number of rows as a real sweep. Then a year of
history is stored (52 applied sets per slice, each logged), a premium user
with custom sets for a tenth of the slices, and ``get_parameters`` is timed
per call: cached (warm) and uncached (cache cleared before every call),
with the auto-tuner's dry run over the whole sweep timed once.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np

from tools.benchmark_sweep import SWEEP_PAIRS, SWEEP_RANGE, SWEEP_TIMEFRAMES, fresh_app

HISTORY_WEEKS = 52
CACHED_CALLS = 20_000
UNCACHED_CALLS = 2_000


def _store_sweep(rng: np.random.Generator) -> tuple[int, list[tuple[str, str, str]]]:
    """Store one completed job with every slice and its DEFAULT grid's runs (random metrics); return its size."""
    from sqlalchemy import insert

    from app.extensions import db
    from app.models import OptimizationJob, OptimizationRun, OptimizationSlice
    from app.models.optimization import METRIC_COLUMNS
    from app.strategies import get_strategy, strategy_names

    symbols = [f"{pair}/USDT" for pair in SWEEP_PAIRS]
    strategies = strategy_names()
    job = OptimizationJob(
        name="benchmark sweep (random metrics)",
        status="completed",
        symbols=symbols,
        timeframes=list(SWEEP_TIMEFRAMES),
        strategies=list(strategies),
        start_date=SWEEP_RANGE[0],
        end_date=SWEEP_RANGE[1],
        parameter_grids={s: get_strategy(s).space.preset("default") for s in strategies},
        maker_fee_pct=0.1,
        taker_fee_pct=0.1,
        slippage_pct=0.05,
        risk_per_trade_pct=1.0,
    )
    db.session.add(job)
    db.session.flush()
    runs, slices = 0, []
    for symbol in symbols:
        for timeframe in SWEEP_TIMEFRAMES:
            for strategy in strategies:
                space = get_strategy(strategy).space
                combos = space.expand(space.preset("default"))
                slice_id = db.session.execute(
                    insert(OptimizationSlice).values(
                        job_id=job.id,
                        symbol=symbol,
                        timeframe=timeframe,
                        strategy=strategy,
                        status="completed",
                        run_count=len(combos),
                        candles_fingerprint="0" * 64,
                    )
                ).inserted_primary_key[0]
                metrics = {name: rng.normal(0.0, 1.0, len(combos)) for name in METRIC_COLUMNS}
                metrics["total_trades"] = rng.integers(0, 400, len(combos))
                rows = [
                    {
                        "job_id": job.id,
                        "slice_id": slice_id,
                        "param_key": space.key(params),
                        "params": params,
                        **{
                            name: (int if name == "total_trades" else float)(values[k])
                            for name, values in metrics.items()
                            if name in ("total_trades", "expectancy_r", "composite_score")
                        },
                    }
                    for k, params in enumerate(combos)
                ]
                db.session.execute(insert(OptimizationRun), rows)
                best = int(np.argmax(metrics["composite_score"]))
                best_id = db.session.scalar(
                    OptimizationRun.__table__.select()
                    .with_only_columns(OptimizationRun.id)
                    .where(OptimizationRun.slice_id == slice_id, OptimizationRun.param_key == rows[best]["param_key"])
                )
                db.session.execute(
                    OptimizationSlice.__table__.update()
                    .where(OptimizationSlice.id == slice_id)
                    .values(best_run_id=best_id, robust_run_id=best_id)
                )
                runs += len(combos)
                slices.append((symbol, timeframe, strategy))
    db.session.commit()
    return runs, slices


def _store_history(slices, rng: random.Random) -> int:
    """A year of weekly applications per slice (each a logged set), plus a premium user's custom sets."""
    from app.models import Symbol, User
    from app.services.params import parameter_sets, user_parameters
    from app.strategies import get_strategy

    stored = 0
    for symbol, timeframe, strategy in slices:
        space = get_strategy(strategy).space
        combos = space.expand(space.preset("default"))
        for _ in range(HISTORY_WEEKS):
            parameter_sets.apply_set(
                symbol=symbol,
                timeframe=timeframe,
                strategy=strategy,
                params=rng.choice(combos),
                source="job",
                actor="benchmark",
                reason="weekly",
                metrics={"in_sample": {"total_trades": 50}, "out_of_sample": None},
            )
            stored += 1
    from app.extensions import db

    user = User(email="premium@bench.test", password_hash="-", tier="premium")
    db.session.add(user)
    db.session.commit()
    assert db.session.query(Symbol).count() == len(SWEEP_PAIRS)
    for symbol, _, strategy in slices[::10]:
        user_parameters.save_custom(user, symbol=symbol, strategy=strategy, params={})
    return stored


def _timed(calls: int, lookup, before=None) -> np.ndarray:
    times = np.empty(calls)
    for k in range(calls):
        if before:
            before()
        started = time.perf_counter()
        lookup(k)
        times[k] = time.perf_counter() - started
    return times * 1000.0


def _describe(label: str, ms: np.ndarray, limit_ms: float) -> None:
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    verdict = "ok" if p95 < limit_ms else "OVER"
    print(
        f"params: get_parameters {label}: p50 {p50:.3f} ms, p95 {p95:.3f} ms, p99 {p99:.3f} ms "
        f"over {len(ms):,} calls (target p95 < {limit_ms:g} ms: {verdict})"
    )


def section_params(data_dir: Path) -> None:
    """Time get_parameters cached and uncached with a weekly sweep and a year of history stored."""
    files = [data_dir / f"{pair}_USDT-{tf}.csv.gz" for pair in SWEEP_PAIRS for tf in SWEEP_TIMEFRAMES]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        print(f"params: skipped, {len(missing)} files missing in {data_dir} (e.g. {missing[0]})")
        return
    with fresh_app(files) as (_, db_path):
        from app.extensions import db
        from app.models import User
        from app.services.auto_tuner import apply_best_params
        from app.services.params.optimal_parameters import get_parameters
        from app.services.params.parameter_cache import parameter_cache

        started = time.perf_counter()
        runs, slices = _store_sweep(np.random.default_rng(11))
        history = _store_history(slices, random.Random(11))
        print(
            f"params: stored {runs:,} runs in {len(slices)} slices, {history:,} production sets and as many "
            f"change-log entries in {time.perf_counter() - started:.1f}s; database "
            f"{db_path.stat().st_size / 1e6:.0f} MB"
        )
        user = db.session.query(User).one()
        order = random.Random(3)
        picks = [(*order.choice(slices), user if order.random() < 0.1 else None) for _ in range(CACHED_CALLS)]

        def lookup(k: int) -> None:
            symbol, timeframe, strategy, who = picks[k]
            get_parameters(symbol=symbol, timeframe=timeframe, strategy=strategy, user=who)

        cache = parameter_cache()
        _describe("uncached", _timed(UNCACHED_CALLS, lookup, before=cache.invalidate), 20.0)
        for k in range(len(slices) * 3):
            lookup(k)
        _describe("cached", _timed(CACHED_CALLS, lookup), 1.0)
        started = time.perf_counter()
        decisions = apply_best_params()
        print(
            f"params: autotune dry run over the sweep: {len(decisions)} decisions in "
            f"{time.perf_counter() - started:.1f}s"
        )
