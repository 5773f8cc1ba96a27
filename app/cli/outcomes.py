"""``flask outcomes ...``: published setups' outcomes, the decay monitor and the history replay.

Each command parses, calls one service and renders; ``--json`` prints the
service's own data. Commands are kept in separate blocks per topic (monitor
below) so other ``outcomes`` sub-commands merge cleanly.
"""

from __future__ import annotations

import json
from typing import Any

import click

from app.cli.errors import CliGroup
from app.services.outcomes import monitor
from app.services.outcomes import replay as replay_service

outcomes_cli = CliGroup("outcomes", help="Setup outcomes, the decay monitor of production sets, history replay.")


def _json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


# --- the decay monitor (docs/outcomes.md#the-monitor-service) -------------------------------------------------


def monitor_line(state: dict[str, Any]) -> str:
    """One set's monitor state on one line (also used by ``flask params status``)."""
    exp = state["expectation"]
    band = state["band"]
    band_text = f"band {band['low']:.1f}..{band['high']:.1f}" if band else "band -"
    return (
        f"  {state['verdict'].upper():<14} {state['symbol']:<10} {state['timeframe']:<4} {state['strategy']:<15} "
        f"set {state['set_id']}: {state['trades']} trades, win {state['win_rate']:.0f}%, "
        f"mean {state['live_mean_r']:+.2f} R vs {exp['mean_r']:+.2f} R ({exp['source']}), "
        f"cum {state['cumulative_r']:+.1f} R ({band_text}), CUSUM {state['cusum']:.1f}, SPRT {state['sprt']}"
        + (f", {state['trades_for_verdict']} more trades for a verdict" if state["trades_for_verdict"] else "")
    )


def suggestion_line(state: dict[str, Any]) -> str | None:
    """The suggestion of a set in alarm, with its evidence, or None."""
    suggestion = state.get("suggestion")
    if not suggestion:
        return None
    target = f" to set {suggestion['to_set_id']}" if suggestion["to_set_id"] else ""
    return f"    suggest {suggestion['action']}{target}: " + "; ".join(suggestion["evidence"])


def echo_states(states: list[dict[str, Any]]) -> None:
    """Print the monitor's states, sets in alarm first (the service's order)."""
    if not states:
        click.echo("  no active production sets to monitor")
    for state in states:
        click.echo(monitor_line(state))
        line = suggestion_line(state)
        if line:
            click.echo(line)


@outcomes_cli.command("status")
@click.option("--json", "as_json", is_flag=True)
def status_command(as_json: bool) -> None:
    """Each active set's live record against its backtest, sets in alarm first (read-only)."""
    states = monitor.monitor_states()
    if as_json:
        _json(states)
        return
    click.echo(f"decay monitor: {len(states)} active sets, {sum(s['verdict'] == 'alarm' for s in states)} in alarm")
    echo_states(states)


@outcomes_cli.command("monitor")
@click.option("--json", "as_json", is_flag=True)
def monitor_command(as_json: bool) -> None:
    """Run the monitor; with PARAMS_AUTO_ROLLBACK on, roll alarmed sets back to their previous set (logged)."""
    result = monitor.run_monitor()
    if as_json:
        _json(result)
        return
    echo_states(result["sets"])
    if not result["auto_rollback"]:
        click.echo("PARAMS_AUTO_ROLLBACK is off: suggestions only, nothing applied")
    for restored in result["rolled_back"]:
        click.echo(f"rolled back: set {restored['id']} active (copy of set {restored['restored_from']})")


# --- the history replay (docs/outcomes.md) ---------------------------------------------------------------------


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
