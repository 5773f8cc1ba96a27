"""``flask candles ...``: import, fetch and inspect stored candles."""

from __future__ import annotations

from pathlib import Path

import click

from app.cli.candles_fetch import fetch_command
from app.cli.errors import CliGroup
from app.services.candles import candle_store

# CliGroup: any bad input ends as "Error: ..." and exit 2, nothing written (app/cli/errors.py).
candles_cli = CliGroup("candles", help="Import, fetch and inspect candles.")
# Fetching lives in its own module: it is the only command that talks to an exchange.
candles_cli.add_command(fetch_command)


@candles_cli.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--symbol", required=True, help="Pair in ccxt spelling, e.g. BTC/USDT.")
@click.option("--timeframe", required=True, help="ccxt timeframe, e.g. 1h.")
@click.option("--exchange", default="binance", show_default=True)
def import_command(path: Path, symbol: str, timeframe: str, exchange: str) -> None:
    """Import a candle CSV (plain or .gz); all rows or none (exit 2 and nothing stored on any bad row)."""
    result = candle_store.import_csv(path, symbol=symbol, timeframe=timeframe, exchange=exchange)
    click.echo(
        f"{symbol} {timeframe}: {result.received} candles read, {result.inserted} new, {result.skipped} already stored"
    )


@candles_cli.command("import-bundled")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
def import_bundled_command(data_dir: Path | None) -> None:
    """Import every ``PAIR-TF.csv[.gz]`` of a directory: all files or none (idempotent).

    Every file is validated before one transaction stores them all; one bad
    file stores nothing (exit 2, naming the file and row).
    """
    from flask import current_app

    directory = data_dir or Path(current_app.config["CANDLE_DATA_DIR"])
    for path, symbol, timeframe, result in candle_store.import_directory(directory):
        click.echo(f"{path.name}: {symbol} {timeframe} {result.inserted} new of {result.received}")


@candles_cli.command("status")
def status_command() -> None:
    """Show coverage per symbol/timeframe: first, last, count and gaps."""
    rows = candle_store.coverage()
    if not rows:
        click.echo("no candles stored")
        return
    click.echo(f"{'symbol':<12}{'tf':<5}{'first':<27}{'last':<27}{'count':>8}{'gaps':>6}{'missing':>9}")
    for row in rows:
        click.echo(
            f"{row['symbol']:<12}{row['timeframe']:<5}{row['first']:<27}{row['last']:<27}"
            f"{row['count']:>8}{row['gaps']:>6}{row['missing_bars']:>9}"
        )
