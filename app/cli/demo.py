"""``flask demo prepare``: everything the README's run command needs before serving."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import click
from flask import current_app
from sqlalchemy import select

from app.cli.errors import CliGroup
from app.cli.progress import optimization_progress
from app.extensions import db
from app.models import OptimizationJob
from app.services import catalogue as script_catalogue
from app.services.accounts.users import ensure_user
from app.services.candles import candle_store
from app.services.optimizer import jobs
from app.services.optimizer.runner import JobRunner

DEMO_JOB_NAME = "demo: quick sweep of the bundled candles"
# One pattern strategy and one indicator strategy (when registered): what the demo shows off.
DEMO_STRATEGIES = ("imbalance", "macd")
SAMPLE_SCRIPTS = Path(__file__).resolve().parents[2] / "data" / "scripts" / "sample_scripts.jsonl"

demo_cli = CliGroup("demo", help="Prepare the local demo.")


@demo_cli.command("prepare")
def prepare_command() -> None:
    """Import the bundled candles and sample scripts (idempotent) and make sure a demo admin exists."""
    for path, symbol, timeframe, result in candle_store.import_directory(Path(current_app.config["CANDLE_DATA_DIR"])):
        click.echo(f"  {path.name:<22} {symbol:<9} {timeframe:<3} {result.inserted:>6} new, {result.skipped} stored")
    scripts = script_catalogue.import_jsonl(str(SAMPLE_SCRIPTS))
    click.echo(
        f"  {SAMPLE_SCRIPTS.name:<22} {scripts.inserted} new scripts, {scripts.unchanged + scripts.updated} stored"
    )
    email = os.environ.get("DEMO_ADMIN_EMAIL", "admin@cryptolens.local")
    password = os.environ.get("DEMO_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
    user, created = ensure_user(email=email, password=password, tier="admin")
    if created and not os.environ.get("DEMO_ADMIN_PASSWORD"):
        # Shown once: only the hash is stored.
        click.echo(f"  demo admin created: {user.email} / {password}  (shown once; keep it)")
    else:
        click.echo(f"  demo admin: {user.email}")


@demo_cli.command("optimize")
def optimize_command() -> None:
    """Create (once) and run the demo's QUICK optimization job; a finished job adds nothing."""
    job = db.session.scalar(select(OptimizationJob).where(OptimizationJob.name == DEMO_JOB_NAME))
    if job is None:
        job = jobs.create_sweep_job(grids="quick", name=DEMO_JOB_NAME, strategies=list(DEMO_STRATEGIES))
        click.echo(f"  created job {job.id}: {job.total_runs} runs ({job.description})")
    job = JobRunner().run(job.id, progress=optimization_progress())
    click.echo(f"  job {job.id} {job.status}: {job.summary}")
