"""``flask patterns ...``: scan for patterns and analyse duplicates."""

from __future__ import annotations

import click

from app.cli.errors import CliGroup
from app.services.scanning import pattern_duplicates, pattern_scanner, signal_scanner

patterns_cli = CliGroup("patterns", help="Scan candles for patterns and inspect them.")


@patterns_cli.command("scan")
@click.option("--symbol", default=None, help="Only this symbol (default: every active symbol).")
@click.option("--timeframe", default=None, help="Only this timeframe (default: SCAN_TIMEFRAMES).")
@click.option("--fetch", is_flag=True, help="Fetch the latest candles through ccxt first.")
def scan_command(symbol: str | None, timeframe: str | None, fetch: bool) -> None:
    """Detect new patterns and indicator signals, store them with trade levels, and update statuses."""
    reports = pattern_scanner.scan(symbol=symbol, timeframe=timeframe, fetch=fetch, log=click.echo)
    click.echo(f"{'symbol':<10}{'tf':<5}{'pattern':<17}{'candles':>8}{'bullish':>9}{'bearish':>9}  status changes")
    for r in reports:
        changes = ", ".join(f"{k} {v}" for k, v in sorted(r.status_changes.items())) or "-"
        click.echo(
            f"{r.symbol:<10}{r.timeframe:<5}{r.pattern_type:<17}{r.candles:>8}"
            f"{r.new_by_direction['bullish']:>9}{r.new_by_direction['bearish']:>9}  {changes}"
        )
    click.echo(f"new patterns: {sum(sum(r.new_by_direction.values()) for r in reports)}")
    symbols, timeframes = pattern_scanner.scan_scope(symbol=symbol, timeframe=timeframe)
    signals = signal_scanner.scan_all(symbols=symbols, timeframes=timeframes)
    click.echo(f"{'symbol':<10}{'tf':<5}{'strategy':<17}{'candles':>8}{'long':>9}{'short':>9}  entered")
    for r in signals:
        click.echo(
            f"{r.symbol:<10}{r.timeframe:<5}{r.strategy:<17}{r.candles:>8}"
            f"{r.new_by_direction['long']:>9}{r.new_by_direction['short']:>9}  {r.entered}"
        )
    click.echo(f"new signals: {sum(sum(r.new_by_direction.values()) for r in signals)}")


@patterns_cli.command("duplicates")
@click.option("--threshold", default=0.7, show_default=True, type=click.FloatRange(0, 1, min_open=True))
def duplicates_command(threshold: float) -> None:
    """Count stored pattern pairs whose zones overlap by THRESHOLD or more."""
    rows = pattern_duplicates.duplicate_report(threshold=threshold)
    if not rows:
        click.echo("no patterns stored")
        return
    click.echo(f"{'symbol':<10}{'tf':<5}{'pattern':<17}{'patterns':>9}{'pairs':>7}")
    for row in rows:
        click.echo(
            f"{row['symbol']:<10}{row['timeframe']:<5}{row['pattern_type']:<17}"
            f"{row['patterns']:>9}{row['overlapping_pairs']:>7}"
        )
