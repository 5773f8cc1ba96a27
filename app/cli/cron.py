"""The cron entry points, installed as console scripts (``pyproject.toml``) and run by ``scripts/*.py``.

``run-optimization`` (``scripts/run_optimization.py``): create and/or run parameter optimization jobs.

Usage (the options are those of ``flask optimize new``; lists are comma-separated):
  run-optimization --new [--preset quick|default] [--symbols BTC/USDT,ETH/USDT]
         [--timeframes 1h,4h] [--strategies imbalance,macd] [--start 2024-01-01] [--end 2024-12-31]
         [--costs binance_spot] [--validation none|walk_forward] [--no-monte-carlo] [--workers N]
  run-optimization --job-id 7        # run or resume job 7
  run-optimization                   # run the oldest pending (or stale) job, if any

With --new, old jobs' runs are pruned afterwards when OPTIMIZER_PRUNE_KEEP_LAST and/or
OPTIMIZER_PRUNE_OLDER_THAN_DAYS are set (see ``flask optimize prune``). A progress bar
when run in a terminal, plain log lines under cron. Exit status: 0 when the job
completed (or there was nothing to do), 1 when it failed (some slice failed; run it
again to retry), 2 for bad input (nothing created), 3 when the job is held by another
live process.

``scan-patterns`` (``scripts/scan_patterns.py [--symbol BTC/USDT] [--timeframe 1h] [--fetch]``):
``flask patterns scan`` for cron. Exit status: 0 done, 1 the exchange or database failed
(retry), 2 bad input (unknown symbol or timeframe, bad configuration), nothing written.
"""

from __future__ import annotations

import click
from flask import current_app

from app.cli.errors import run_script
from app.cli.optimize import create_from_options, run_with_progress, scope_options
from app.cli.patterns import scan_command
from app.services.optimizer import jobs
from app.services.optimizer.retention import prune_as_configured


@click.command(help="Create and/or run parameter optimization jobs (cron).")
@click.option("--job-id", type=click.IntRange(min=1), default=None, help="Run or resume this job.")
@click.option("--new", "new", is_flag=True, help="Create a job (defaults: the weekly sweep) and run it.")
@scope_options
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes (default: one per core).")
def optimize_command(job_id: int | None, new: bool, workers: int | None, **options) -> None:
    if job_id is not None and new:
        raise click.UsageError("--job-id and --new exclude each other")
    if new:
        job = create_from_options(**options)
        click.echo(f"created job {job.id} '{job.name}': {job.total_runs} runs")
        job_id = job.id
    elif job_id is None:
        job = jobs.next_runnable_job(stale_after_seconds=current_app.config["OPTIMIZER_STALE_SECONDS"])
        if job is None:
            click.echo("no pending optimization job")
            return
        job_id = job.id
    status = run_with_progress(job_id, workers)
    if new and (pruned := prune_as_configured()) is not None:
        click.echo(f"retention: {pruned.summary}")
    raise click.exceptions.Exit(status)


def run_optimization(argv: list[str] | None = None) -> int:
    """Run the optimizer command as cron does; return the exit status (errors as one line, app/cli/errors.py)."""
    return run_script(optimize_command, argv, prog_name="run_optimization.py")


def scan_patterns(argv: list[str] | None = None) -> int:
    """Run ``flask patterns scan`` as cron does; return the exit status."""
    return run_script(scan_command, argv, prog_name="scan_patterns.py")
