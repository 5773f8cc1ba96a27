#!/usr/bin/env python
"""Cron entry point: create and/or run parameter optimization jobs.

Usage:
  python scripts/run_optimization.py --new [--preset quick|default] [--symbols BTC/USDT ETH/USDT]
         [--timeframes 1h 4h] [--patterns imbalance order_block] [--start 2024-01-01] [--end 2024-12-31]
         [--validation none|walk_forward] [--no-monte-carlo] [--workers N]
  python scripts/run_optimization.py --job-id 7        # run or resume job 7
  python scripts/run_optimization.py                   # run the oldest pending (or stale) job, if any

A progress bar when run in a terminal, plain log lines under cron. Exit status:
0 when the job completed, 1 when it failed (some slice failed; run it again to
retry), 2 for bad input (nothing created), 3 when the job is held by another
live process.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import create_app  # noqa: E402
from app.cli.progress import optimization_progress  # noqa: E402
from app.errors import AppError, ConflictError  # noqa: E402
from app.services.optimizer import ParameterOptimizer  # noqa: E402

EXIT_FAILED, EXIT_BAD_INPUT, EXIT_BUSY = 1, 2, 3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--job-id", type=int, help="run or resume this job")
    which.add_argument("--new", action="store_true", help="create a job (defaults: the weekly sweep) and run it")
    parser.add_argument("--preset", choices=["quick", "default"], default="default")
    parser.add_argument("--symbols", nargs="+", help="default: every active symbol")
    parser.add_argument("--timeframes", nargs="+", help="default: OPTIMIZE_TIMEFRAMES stored for every symbol")
    parser.add_argument("--patterns", nargs="+", help="default: every pattern type")
    parser.add_argument("--start", help="default: OPTIMIZE_LOOKBACK_DAYS before --end")
    parser.add_argument("--end", help="default: the newest stored candle")
    parser.add_argument("--workers", type=int, help="worker processes (default: one per CPU core)")
    parser.add_argument(
        "--validation", choices=["none", "walk_forward"], default="none", help="walk-forward validate every slice"
    )
    parser.add_argument(
        "--no-monte-carlo", dest="monte_carlo", action="store_false", help="skip Monte Carlo on each best run"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    app = create_app()
    with app.app_context():
        optimizer = ParameterOptimizer(workers=args.workers)
        try:
            if args.new:
                job = optimizer.create_default_job(
                    grid=args.preset,
                    symbols=args.symbols,
                    timeframes=args.timeframes,
                    pattern_types=args.patterns,
                    start_date=args.start,
                    end_date=args.end,
                    validation=args.validation,
                    monte_carlo=args.monte_carlo,
                )
                print(f"created job {job.id} '{job.name}': {job.total_runs} runs", flush=True)
                job_id = job.id
            elif args.job_id is not None:
                job_id = args.job_id
            else:
                job = optimizer.next_runnable_job()
                if job is None:
                    print("no pending optimization job")
                    return 0
                job_id = job.id
            job = optimizer.run_job(job_id, progress=optimization_progress())
        except ConflictError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return EXIT_BUSY
        except AppError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"job {job.id} {job.status}: {job.summary}", flush=True)
        return 0 if job.status == "completed" else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
