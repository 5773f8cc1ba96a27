"""Storage and scale benchmarks (sections of tools/benchmark.py).

- ``storage``: the runner's slice storage alone (rows, best runs, checks,
  counters, one transaction per slice) of real slice results, 57,600 runs on
  a fresh SQLite file and, when ``BENCH_MYSQL_URL`` names a throw-away
  MariaDB/MySQL database (it is emptied!), on that server too; runs/s and
  bytes per run (SQLite: ``dbstat``; MySQL: InnoDB data + index length);
- ``scale``: one slice's CPU cost against bars (1d .. 1m of the shared data)
  and grid size (6 .. 9,600), the fitted growth exponents, a projection of a
  7-million-run weekly sweep on N Dask workers, and a real sweep on the
  shared 5m/15m candles.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

STORE_SCOPE = (("BTC", "1d"), ("BTC", "4h"), ("ETH", "1d"), ("ETH", "4h"))
STORE_JOBS = 5  # 4 markets x 3 strategies x 960 runs x 5 jobs = 57,600 runs


def _slice_results(data_dir: Path, scope=STORE_SCOPE) -> list:
    """Evaluate the default grid of every pattern strategy on ``scope`` (pure, in this process)."""
    from app.core.candles import read_candles_csv
    from app.core.costs import CostModel
    from app.evaluation.slice_eval import SliceTask, evaluate_slice, grid_rows
    from app.strategies import PATTERN, get_strategy, strategy_names

    results = []
    for pair, timeframe in scope:
        candles = read_candles_csv(data_dir / f"{pair}_USDT-{timeframe}.csv.gz")
        for name in strategy_names(PATTERN):
            space = get_strategy(name).space
            combos = space.expand(space.validate_grid(space.preset("default")))
            task = SliceTask(
                symbol=f"{pair}/USDT",
                timeframe=timeframe,
                strategy=name,
                candles=candles,
                combinations=combos,
                costs=CostModel(),
                ranking_metric="composite_score",
                min_trades=10,
                monte_carlo=True,
                seed=1,
                rows=grid_rows(space, combos),
            )
            results.append(evaluate_slice(task))
    return results


def _store_all(url: str, results: list) -> tuple[int, float, float]:
    """Store ``results`` into STORE_JOBS jobs on a migrated database at ``url``; return (runs, wall, CPU seconds)."""
    from flask_migrate import upgrade

    from app import create_app
    from app.extensions import db
    from app.models import OptimizationJob
    from app.services.optimizer.runner import JobRunner
    from app.strategies import PATTERN, strategy_names

    os.environ["DATABASE_URL"] = url
    app = create_app()
    with app.app_context():
        upgrade()
        runs, wall, cpu = 0, 0.0, 0.0
        for k in range(STORE_JOBS):
            job = OptimizationJob(
                name=f"storage bench {k}",
                symbols=sorted({r.key[0] for r in results}),
                timeframes=sorted({r.key[1] for r in results}),
                strategies=list(strategy_names(PATTERN)),
                start_date="2020-09-20",
                end_date="2025-09-19",
                parameter_grids={name: _default_grid(name) for name in strategy_names(PATTERN)},
                maker_fee_pct=0.1,
                taker_fee_pct=0.1,
                slippage_pct=0.05,
                risk_per_trade_pct=1.0,
                total_runs=sum(len(r.metrics) for r in results),
            )
            db.session.add(job)
            db.session.commit()
            runner = JobRunner(workers=1)
            runner.lease = job.lease
            started, cpu_started = time.perf_counter(), time.process_time()
            for result in results:
                runner._store_slice(job, result)  # the runner's own storage step, timed alone
            wall += time.perf_counter() - started
            cpu += time.process_time() - cpu_started
            runs += sum(len(r.metrics) for r in results)
        db.session.remove()
        db.engine.dispose()
    return runs, wall, cpu


def _default_grid(name: str) -> dict:
    from app.strategies import get_strategy

    space = get_strategy(name).space
    return space.validate_grid(space.preset("default"))


def _sqlite_bytes(path: Path) -> dict[str, float]:
    import sqlite3

    with sqlite3.connect(path) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        n = con.execute("SELECT count(*) FROM optimization_runs").fetchone()[0]
        sizes = dict(con.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
        details = con.execute("SELECT coalesce(sum(length(results_json)), 0) FROM optimization_runs").fetchone()[0]
    table = sizes.get("optimization_runs", 0)
    indexes = sum(v for k, v in sizes.items() if k.startswith(("sqlite_autoindex_optimization_runs", "idx_opt_run")))
    return {"table": table / n, "indexes": indexes / n, "best_run_details": details / n}


def _mysql_bytes(url: str) -> dict[str, float]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as con:
        con.execute(text("ANALYZE TABLE optimization_runs"))
        n = con.execute(text("SELECT count(*) FROM optimization_runs")).scalar()
        data, index = con.execute(
            text(
                "SELECT data_length, index_length FROM information_schema.tables "
                "WHERE table_schema = DATABASE() AND table_name = 'optimization_runs'"
            )
        ).one()
        details = con.execute(text("SELECT coalesce(sum(length(results_json)), 0) FROM optimization_runs")).scalar()
    engine.dispose()
    return {"table": data / n, "indexes": index / n, "best_run_details": float(details) / n}


def _empty_mysql(url: str) -> None:
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    with engine.begin() as con:
        con.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
        for table in inspect(con).get_table_names():
            con.execute(text(f"DROP TABLE `{table}`"))
    engine.dispose()


def section_storage(data_dir: Path) -> None:
    """Time the runner's slice storage alone on SQLite (and MariaDB with BENCH_MYSQL_URL); print bytes per run."""
    results = _slice_results(data_dir)
    per_job = sum(len(r.metrics) for r in results)
    print(f"storage: {len(results)} real slices x {STORE_JOBS} jobs = {per_job * STORE_JOBS:,} runs")
    previous = os.environ.get("DATABASE_URL")
    targets = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "storage.db"
        targets.append(("SQLite", f"sqlite:///{path}", lambda: _sqlite_bytes(path)))
        mysql_url = os.environ.get("BENCH_MYSQL_URL")
        if mysql_url:
            _empty_mysql(mysql_url)
            targets.append(("MariaDB", mysql_url, lambda: _mysql_bytes(mysql_url)))
        else:
            print("storage: MariaDB skipped (set BENCH_MYSQL_URL to a throw-away database)")
        try:
            for label, url, measure in targets:
                runs, wall, cpu = _store_all(url, results)
                size = measure()
                print(
                    f"storage: {label}: {runs:,} runs in {wall:.2f}s = {runs / wall:,.0f} runs/s "
                    f"({cpu:.2f}s CPU = {runs / cpu:,.0f} runs/s per CPU second); bytes per run: "
                    f"table {size['table']:.0f} (of which the best runs' trades {size['best_run_details']:.0f}), "
                    f"indexes {size['indexes']:.0f}"
                )
        finally:
            if previous is None:
                os.environ.pop("DATABASE_URL", None)
            else:
                os.environ["DATABASE_URL"] = previous


# --------------------------------------------------------------------------- scale

SCALE_BARS = (
    ("1d", "BTC_USDT-1d.csv.gz"),
    ("4h", "BTC_USDT-4h.csv.gz"),
    ("1h", "BTC_USDT-1h.csv.gz"),
    ("30m", "BTC_USDT-30m.csv.gz"),
    ("15m", "BTC_USDT-15m.2023.csv.gz"),
    ("5m", "BTC_USDT-5m.2023.csv.gz"),
    ("1m", "BTC_USDT-1m.2024-04.csv.gz"),
)
SCALE_GRIDS = (6, 96, 960, 9_600)
WEEKLY_RUNS = 7_000_000
WEEKLY_GRID = 960


def _grid_of_size(space, size: int) -> list[dict]:
    """A realistic grid of ``size`` runs: fewer or more axes of the default grid (9,600: 50 rr_target values)."""
    default = space.validate_grid(space.preset("default"))
    axes = {
        6: {"rr_target": [1.5, 2.5, 3.5], "entry_method": ["zone_edge", "zone_mid"]},
        96: {name: default[name] for name in ("sl_buffer_pct", "min_zone_pct", "tp_method", "entry_method")},
        960: default,
        9_600: {**default, "rr_target": np.round(np.arange(1.0, 6.0, 0.1), 1).tolist()},
    }[size]
    combos = space.expand(space.validate_grid(axes))
    assert len(combos) == size, (size, len(combos))
    return combos


def _slice_cpu(candles, strategy: str, combos: list[dict]) -> tuple[float, float]:
    """Return (CPU seconds of the whole slice, of which kernel), best of 2 (warm)."""
    from app.core.costs import CostModel
    from app.evaluation.slice_eval import SliceTask, evaluate_slice

    task = SliceTask(
        symbol="BTC/USDT",
        timeframe="x",
        strategy=strategy,
        candles=candles,
        combinations=combos,
        costs=CostModel(),
        ranking_metric="composite_score",
        min_trades=10,
        monte_carlo=True,
        seed=1,
    )
    best = None
    for _ in range(2):
        result = evaluate_slice(task)
        if result.error:
            raise SystemExit(f"scale: slice failed: {result.error}")
        if best is None or result.cpu_seconds < best[0]:
            best = (result.cpu_seconds, result.kernel_seconds)
    return best


def _fit(xs, ys) -> tuple[float, float]:
    """Least-squares fit of log y = log a + b log x; return (a, b)."""
    b, log_a = np.polyfit(np.log(xs), np.log(ys), 1)
    return math.exp(log_a), b


def section_scale(data_dir: Path) -> None:
    """One slice's CPU cost against bars and grid size, the fitted growth, a weekly-sweep projection, a 5m/15m sweep."""
    from app.core.candles import read_candles_csv
    from app.strategies import get_strategy

    strategy = "imbalance"
    space = get_strategy(strategy).space
    default = _grid_of_size(space, WEEKLY_GRID)
    frames = {tf: read_candles_csv(data_dir / name) for tf, name in SCALE_BARS if (data_dir / name).is_file()}
    print(f"scale: one {strategy} slice (Monte Carlo on), CPU seconds, best of 2, warm")
    print("scale: against bars (grid 960)")
    bars, costs = [], []
    for tf, frame in frames.items():
        total, kernel = _slice_cpu(frame, strategy, default)
        bars.append(len(frame))
        costs.append(total)
        print(f"  {tf:>4} {len(frame):>8,} bars: {total * 1000:8.1f} ms (kernel {kernel * 1000:7.1f} ms)")
    print("scale: (different markets and years: the number of setups, not only bars, sets these costs)")
    series = frames.get("5m", frames["30m"])
    print(f"scale: against bars of one series (prefixes of {len(series):,} bars, grid 960)")
    bars, costs = [], []
    for share in (8, 4, 2, 1):
        prefix = series.iloc[: len(series) // share]
        total, kernel = _slice_cpu(prefix, strategy, default)
        bars.append(len(prefix))
        costs.append(total)
        print(f"  {len(prefix):>8,} bars: {total * 1000:8.1f} ms (kernel {kernel * 1000:7.1f} ms)")
    _, b_bars = _fit(bars, costs)
    print(f"scale: cost ~ bars^{b_bars:.2f} (grid 960): linear in bars means an exponent near 1")
    per_bar = costs[-1] / bars[-1]  # the projection extrapolates linearly from the largest slice (conservative)
    frame = frames["30m"]
    print(f"scale: against grid size ({len(frame):,} bars of 30m)")
    sizes, grid_costs = [], []
    for size in SCALE_GRIDS:
        total, kernel = _slice_cpu(frame, strategy, _grid_of_size(space, size))
        sizes.append(size)
        grid_costs.append(total)
        print(
            f"  {size:>6,} runs: {total * 1000:8.1f} ms (kernel {kernel * 1000:7.1f} ms) "
            f"= {total / size * 1e6:7.1f} us per run"
        )
    _, b_grid = _fit(sizes, grid_costs)
    print(
        f"scale: cost ~ grid^{b_grid:.2f} ({len(frame):,} bars): shared detection and fills make runs cheaper in bulk"
    )
    _project(per_bar)
    _real_sweep(data_dir)


def _project(per_bar: float) -> None:
    """Project the 7-million-run weekly sweep (200 pairs x 7 timeframes x 5 strategies x 960-run grids)."""
    per_day = {"1m": 1440, "5m": 288, "15m": 96, "30m": 48, "1h": 24, "4h": 6, "1d": 1}
    pairs, strategies = 200, 5
    runs = pairs * len(per_day) * strategies * WEEKLY_GRID
    for lookback_days in (365, 1825):
        cpu = pairs * strategies * per_bar * lookback_days * sum(per_day.values())
        print(
            f"scale: projection: {pairs} pairs x {len(per_day)} timeframes x {strategies} strategies x "
            f"{WEEKLY_GRID} = {runs:,} runs over {lookback_days} days ({lookback_days * 1440:,} 1m bars a slice), "
            f"{per_bar * 1e6:.2f} us CPU per bar and slice (linear): {cpu / 3600:,.1f} CPU hours"
        )
        for workers in (2, 8, 32, 128):
            print(f"  {workers:>4} Dask workers (1 core each): {cpu / workers / 3600:8.2f} h of compute")
    for label, rate in (("SQLite", 50_000), ("MariaDB", 20_000)):
        print(
            f"scale: storing {runs:,} runs at {rate:,} runs/s ({label} target): "
            f"{runs / rate / 60:.0f} min in the runner"
        )


def _real_sweep(data_dir: Path) -> None:
    """A real job on the shared 5m/15m candles (BTC and ETH, calendar 2023), every pattern strategy, default grid."""
    from tools.benchmark_sweep import fresh_app

    files = [data_dir / f"{pair}_USDT-{tf}.2023.csv.gz" for pair in ("BTC", "ETH") for tf in ("5m", "15m")]
    files = [f for f in files if f.is_file()]
    if not files:
        print("scale: real 5m/15m sweep skipped (no files)")
        return
    from app.services.optimizer import jobs
    from app.services.optimizer.runner import JobRunner
    from app.strategies import PATTERN, strategy_names

    with fresh_app(files):
        job = jobs.create_job(
            name="scale 5m/15m",
            symbols=["BTC/USDT", "ETH/USDT"],
            timeframes=["5m", "15m"],
            strategies=list(strategy_names(PATTERN)),
            start_date="2023-01-01",
            end_date="2023-12-31",
            grids="default",
        )
        runner = JobRunner()
        status = runner.run(job.id).status
        s = runner.last_stats
    print(
        f"scale: real sweep 5m/15m 2023 (BTC, ETH, {len(strategy_names(PATTERN))} strategies): {s.runs:,} runs in "
        f"{s.wall_seconds:.1f}s with {runner.workers} workers ({s.compute_cpu_seconds:.1f}s compute CPU, kernel "
        f"{s.kernel_cpu_seconds:.1f}s; storage {s.store_seconds:.1f}s); job {status}"
    )
