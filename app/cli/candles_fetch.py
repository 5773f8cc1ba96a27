"""``flask candles fetch``: download candles from an exchange (the lead attaches it to ``candles``)."""

from __future__ import annotations

import sys

import click
import pandas as pd
from flask import current_app
from flask.cli import with_appcontext

from app.cli.errors import CliCommand
from app.services.candles import candle_fetcher
from app.services.candles.candle_fetcher import PageReport


def _parse_time(value: str | None, option: str) -> int | None:
    """Turn an ISO date/time (UTC unless it says otherwise) or epoch ms into epoch ms."""
    if value is None:
        return None
    try:
        if value.isdigit():
            return int(value)
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise click.BadParameter(
            f"not a date/time: {value!r} (use e.g. 2024-01-01 or 2024-01-01T12:00)", param_hint=option
        ) from None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value // 1_000_000)


def _iso(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").isoformat()


class _Progress:
    """A tqdm bar on a terminal; one plain line per page otherwise (cron logs, pipes)."""

    def __init__(self, *, interactive: bool):
        self.interactive = interactive
        self.bar = None

    def __call__(self, report: PageReport) -> None:
        if not self.interactive:
            click.echo(
                f"page {report.page}: {report.fetched} candles {_iso(report.first_ms)} .. {_iso(report.last_ms)}, "
                f"{report.inserted} new"
            )
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=report.expected_total, unit="candle", file=sys.stderr)
        if report.expected_total is not None and report.expected_total > (self.bar.total or 0):
            self.bar.total = report.expected_total
        self.bar.update(report.fetched)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@click.command("fetch", cls=CliCommand)
@click.option("--exchange", default=None, help="ccxt exchange id [default: config EXCHANGE, binance].")
@click.option("--symbol", required=True, help="Pair in ccxt spelling, e.g. BTC/USDT.")
@click.option("--timeframe", required=True, help="ccxt timeframe, e.g. 1h.")
@click.option("--since", default=None, help="First candle open time (UTC), e.g. 2024-01-01; default: resume.")
@click.option("--until", default=None, help="Last candle open time (UTC, inclusive); default: now.")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(min=1), help="Candles per request.")
@click.option("--max-retries", default=5, show_default=True, type=click.IntRange(min=0), help="Retries per request.")
@with_appcontext
def fetch_command(
    exchange: str | None,
    symbol: str,
    timeframe: str,
    since: str | None,
    until: str | None,
    limit: int,
    max_retries: int,
) -> None:
    """Fetch closed candles from an exchange, resuming after the newest stored one.

    Exit 2 for bad input (unknown exchange, symbol or timeframe, a corrupt
    page), 1 when the exchange failed (re-run to resume).

    Each page is stored as it arrives, so an interrupted fetch keeps its work;
    re-running continues where it stopped.
    """
    since_ms = _parse_time(since, "--since")
    until_ms = _parse_time(until, "--until")
    name = exchange or current_app.config.get("DEFAULT_EXCHANGE", "binance")
    progress = _Progress(interactive=sys.stdout.isatty())
    try:
        client = candle_fetcher.make_exchange(name)
        result = candle_fetcher.fetch_candles(
            client,
            symbol=symbol,
            timeframe=timeframe,
            since_ms=since_ms,
            until_ms=until_ms,
            limit=limit,
            max_retries=max_retries,
            progress=progress,
        )
    finally:
        progress.close()
    head = f"{result.exchange} {result.symbol} {result.timeframe}"
    if not result.fetched:
        newest = result.resumed_from_ms
        where = f" (newest stored candle {_iso(newest)})" if newest is not None else ""
        click.echo(f"{head}: no new closed candles{where}; {result.pages} page(s) requested")
        return
    click.echo(
        f"{head}: {result.pages} page(s), {result.fetched} candles fetched, {result.inserted} new, "
        f"first {result.first}, last {result.last}"
    )
