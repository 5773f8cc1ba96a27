"""``flask demo prepare``: everything the README's run command needs before serving."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from app.services import candle_store
from app.services.users import ensure_user

demo_cli = AppGroup("demo", help="Prepare the local demo.")


@demo_cli.command("prepare")
def prepare_command() -> None:
    """Import the bundled candles (idempotent) and make sure a demo admin exists."""
    for path, symbol, timeframe, result in candle_store.import_directory(Path(current_app.config["CANDLE_DATA_DIR"])):
        click.echo(f"  {path.name:<22} {symbol:<9} {timeframe:<3} {result.inserted:>6} new, {result.skipped} stored")
    email = os.environ.get("DEMO_ADMIN_EMAIL", "admin@cryptolens.local")
    password = os.environ.get("DEMO_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
    user, created = ensure_user(email=email, password=password, tier="admin")
    if created and not os.environ.get("DEMO_ADMIN_PASSWORD"):
        # Shown once: only the hash is stored.
        click.echo(f"  demo admin created: {user.email} / {password}  (shown once; keep it)")
    else:
        click.echo(f"  demo admin: {user.email}")
