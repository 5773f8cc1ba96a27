"""``flask outcomes ...``: follow published setups to their outcomes (issue 23)."""

from __future__ import annotations

import click

from app.cli.errors import CliGroup
from app.services.outcomes import replay as replay_service

outcomes_cli = CliGroup("outcomes", help="Setup outcomes: replay stored history through the scanners.")


@outcomes_cli.command("replay")
@click.option("--symbol", required=True, help="The symbol, e.g. BTC/USDT.")
@click.option("--timeframe", required=True, help="The timeframe, e.g. 1h.")
@click.option("--strategies", default=None, help="Comma-separated strategies (default: all).")
@click.option("--from", "start", required=True, help="First step's date (UTC), e.g. 2024-09-20.")
@click.option("--to", "end", default=None, help="Last date (UTC; default: the newest stored candle).")
@click.option("--step", default=1, show_default=True, type=click.IntRange(min=1), help="Candles per step.")
def replay_command(symbol: str, timeframe: str, strategies: str | None, start: str, end: str | None, step: int) -> None:
    """Replay stored candles as if live: scan every STEP candles with the sets active then; track each setup."""
    names = [s.strip() for s in strategies.split(",") if s.strip()] if strategies else None
    report = replay_service.replay(symbol, timeframe, start=start, end=end, strategies=names, step=step)
    click.echo(
        f"replayed {symbol} {timeframe} {report.start} .. {report.end}: {report.steps} steps, {report.candles} candles"
    )
    click.echo(f"{'strategy':<17}{'new setups':>11}{'outcomes changed':>18}")
    for name in report.strategies:
        click.echo(f"{name:<17}{report.new_setups[name]:>11}{report.outcomes_changed[name]:>18}")
