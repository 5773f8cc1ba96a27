"""The full optimization sweep benchmark (a section of scripts/benchmark.py).

5 pairs x {30m, 1h, 4h, 1d} x 3 pattern types x the DEFAULT grid (960) =
57,600 runs over the five years of the shared candles, every run stored in a
fresh SQLite file, through the same ParameterOptimizer the cron job uses.
Candle import is timed separately (it is not part of a sweep).
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

SWEEP_PAIRS = ("BTC", "ETH", "SOL", "XRP", "BNB")
SWEEP_TIMEFRAMES = ("30m", "1h", "4h", "1d")


def _peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def section_sweep(data_dir: Path, *, workers: int | None = None) -> None:
    """Run the 57,600-run DEFAULT sweep end to end and report runs/s, compute vs storage, peak memory."""
    files = [data_dir / f"{pair}_USDT-{tf}.csv.gz" for pair in SWEEP_PAIRS for tf in SWEEP_TIMEFRAMES]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        print(f"sweep: skipped, {len(missing)} files missing in {data_dir} (e.g. {missing[0]})")
        return
    previous_url = os.environ.get("DATABASE_URL")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'sweep.db'}"
        from flask_migrate import upgrade

        from app import create_app
        from app.services.candle_store import import_csv
        from app.services.optimizer import ParameterOptimizer

        app = create_app()
        with app.app_context():
            upgrade()
            started = time.perf_counter()
            bars = 0
            for path in files:
                pair, tf = path.name.split(".")[0].split("-")
                bars += import_csv(path, symbol=pair.replace("_", "/"), timeframe=tf).inserted
            print(f"sweep: imported {len(files)} files, {bars:,} candles in {time.perf_counter() - started:.1f}s")
            optimizer = ParameterOptimizer(workers=workers)
            job = optimizer.create_job(
                "benchmark sweep",
                [f"{pair}/USDT" for pair in SWEEP_PAIRS],
                list(SWEEP_TIMEFRAMES),
                ["imbalance", "order_block", "liquidity_sweep"],
                "2020-09-20",
                "2025-09-19",
                "default",
            )
            status = optimizer.run_job(job.id).status
            stats = optimizer.last_stats
            size_mb = (Path(tmp) / "sweep.db").stat().st_size / 1e6
        if previous_url is None:
            del os.environ["DATABASE_URL"]
        else:
            os.environ["DATABASE_URL"] = previous_url
    print(
        f"sweep: {stats.runs:,} runs ({stats.slices} slices x 960) over {bars:,} candles, {optimizer.workers} workers: "
        f"{stats.wall_seconds:.1f}s end to end = {stats.runs / stats.wall_seconds:,.0f} runs/s; job {status}"
    )
    print(
        f"sweep: compute {stats.compute_seconds:.1f}s summed over workers "
        f"({stats.runs / max(stats.compute_seconds, 1e-9):,.0f} runs/s per core), "
        f"storage {stats.store_seconds:.1f}s in the main process; database {size_mb:.0f} MB"
    )
    print(
        f"sweep: peak memory {_peak_rss_mb(resource.RUSAGE_SELF):.0f} MB main process, "
        f"{_peak_rss_mb(resource.RUSAGE_CHILDREN):.0f} MB largest worker"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    section_sweep(
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared/data/candles"
    )
