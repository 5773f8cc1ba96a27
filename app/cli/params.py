"""``flask params ...``: the production parameter loop (auto-tune, status, history, rollback, get, premium copies).

Each command parses, calls one service and renders; ``--json`` prints the
service's own dict. Exit codes follow app.cli.errors (2 bad input or an
unknown slice/set/user/run, including a free user's premium refusal).
"""

from __future__ import annotations

import json
from typing import Any

import click

from app.cli.errors import CliGroup
from app.cli.outcomes import echo_states
from app.services import auto_tuner
from app.services.accounts.users import find_user
from app.services.outcomes import monitor
from app.services.params import parameter_sets, user_parameters
from app.services.params.optimal_parameters import get_parameters, status_report, suggest_parameter_updates

params_cli = CliGroup("params", help="Production parameters: auto-tune, status, history, rollback, get, copies.")


def _json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def _params_text(params: dict[str, Any] | None) -> str:
    return "-" if params is None else " ".join(f"{k}={v}" for k, v in params.items())


def slice_arguments(command):
    for argument in reversed([click.argument("symbol"), click.argument("timeframe"), click.argument("strategy")]):
        command = argument(command)
    return command


@params_cli.command("autotune")
@click.option("--apply", "apply_", is_flag=True, help="Apply what passes (default: a dry run that only logs).")
@click.option("--symbol", default=None)
@click.option("--timeframe", default=None)
@click.option("--strategy", default=None)
@click.option(
    "--min-improvement",
    type=float,
    default=auto_tuner.DEFAULT_MIN_IMPROVEMENT_PCT,
    show_default=True,
    help="Percent the candidate must beat the active set by on the job's ranking metric.",
)
@click.option("--min-trades", type=click.IntRange(min=0), default=None, help="Default: each job's own minimum.")
@click.option("--raw-best", is_flag=True, help="Judge the raw best run instead of the robust best.")
@click.option("--run-id", type=int, default=None, help="Judge this stored run instead.")
@click.option("--actor", default="autotune", show_default=True, help="Who the change log names.")
@click.option("--json", "as_json", is_flag=True)
def autotune_command(
    apply_, symbol, timeframe, strategy, min_improvement, min_trades, raw_best, run_id, actor, as_json
) -> None:
    """Propose (dry run) or apply each slice's newest best parameters; a decision and its reason per slice."""
    decisions = auto_tuner.apply_best_params(
        symbol,
        strategy,
        timeframe=timeframe,
        min_improvement_pct=min_improvement,
        dry_run=not apply_,
        robust=not raw_best,
        actor=actor,
        run_id=run_id,
        min_trades=min_trades,
    )
    if as_json:
        _json([d.to_dict() for d in decisions])
        return
    if not decisions:
        click.echo("no optimized slices in scope: run an optimization first")
        return
    click.echo(f"{'symbol':<10} {'tf':<4} {'strategy':<15} {'decision':<9} reason")
    for d in decisions:
        click.echo(f"{d.symbol:<10} {d.timeframe:<4} {d.strategy:<15} {d.decision:<9} {d.reason}")
    counts = {kind: sum(d.decision == kind for d in decisions) for kind in ("applied", "proposed", "skipped")}
    unpromotable = sum(d.metrics.get("promotable_runs") == 0 for d in decisions)
    click.echo(
        f"{len(decisions)} slices: {counts['applied']} applied, {counts['proposed']} proposed, "
        f"{counts['skipped']} skipped; {unpromotable} with no promotable run at all "
        f"(no run of the grid has enough trades and a positive expectancy after costs)"
        + ("" if apply_ else "; dry run: nothing applied (add --apply)")
    )


@params_cli.command("status")
@click.option("--json", "as_json", is_flag=True)
def status_command(as_json: bool) -> None:
    """How many slices are optimized, their sources and ages, performance, pending proposals, cache statistics."""
    report = status_report()
    states = monitor.monitor_states()
    if as_json:
        _json({**report, "monitor": states})
        return
    cache = report["cache"]
    click.echo(
        f"slices: {report['slices']} ({report['optimized']} optimized, {report['with_production_set']} with a "
        f"production set, {report['stale']} stale, {report['pending_proposals']} pending proposals)"
    )
    click.echo("sources: " + ", ".join(f"{k} {v}" for k, v in report["sources"].items()))
    click.echo(f"set age (days): {report['set_age_days'] or '-'}")
    performance = report["average_performance"]
    click.echo(
        f"average expectancy of production sets: {performance['expectancy_r']} R in sample, "
        f"{performance['out_of_sample_expectancy_r']} R out of sample"
    )
    click.echo(
        f"cache (this process): {cache['entries']} entries, {cache['hits']} hits, {cache['misses']} misses, "
        f"{cache['invalidations']} invalidations, TTL {cache['ttl_seconds']} s, latency ms {cache['latency_ms']}"
    )
    for row in report["rows"]:
        click.echo(
            f"  {row['symbol']:<10} {row['timeframe']:<4} {row['strategy']:<15} {row['source']:<8} "
            f"set {row['set_id'] or '-'}  trades {row['trades'] if row['trades'] is not None else '-'}  "
            f"last {row['last_action'] or '-'}{'  STALE' if row['stale'] else ''}"
        )
    click.echo("decay monitor (live outcomes vs backtest, alarms first; `flask outcomes status`):")
    echo_states(states)


@params_cli.command("history")
@slice_arguments
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Change-log entries shown.")
@click.option("--json", "as_json", is_flag=True)
def history_command(symbol, timeframe, strategy, limit, as_json) -> None:
    """The slice's production sets (newest first) and its change log."""
    sets = parameter_sets.set_history(symbol=symbol, timeframe=timeframe, strategy=strategy)
    log = parameter_sets.change_log(symbol=symbol, timeframe=timeframe, strategy=strategy, limit=limit)
    if as_json:
        _json({"sets": sets, "changes": log})
        return
    click.echo(f"sets of {symbol} {timeframe} {strategy}: {len(sets) or 'none (production trades the defaults)'}")
    for s in sets:
        mark = "*" if s["is_active"] else " "
        click.echo(
            f" {mark}{s['id']:>5} {s['applied_at'][:19]} {s['source']:<6} by {s['applied_by']}: "
            f"{_params_text(s['params'])}"
        )
    click.echo("changes:")
    for c in log:
        click.echo(
            f"  {c['created_at'][:19]} {c['action']:<8}{' (dry run)' if c['dry_run'] else ''} "
            f"by {c['actor']}: {c['reason']}"
        )


@params_cli.command("rollback")
@slice_arguments
@click.option("--to", "to_set_id", type=int, required=True, help="The earlier set's id (see `params history`).")
@click.option("--actor", default="cli", show_default=True)
def rollback_command(symbol, timeframe, strategy, to_set_id, actor) -> None:
    """Make an earlier set the active set again (a new, logged set; nothing is overwritten)."""
    restored = parameter_sets.rollback(
        symbol=symbol, timeframe=timeframe, strategy=strategy, to_set_id=to_set_id, actor=actor
    )
    click.echo(f"set {restored['id']} active (copy of set {to_set_id}): {_params_text(restored['params'])}")


@params_cli.command("get")
@slice_arguments
@click.option("--user", "email", default=None, help="Resolve for this user (their custom set when premium).")
@click.option("--base", is_flag=True, help="The base set, ignoring the current market regime.")
@click.option("--json", "as_json", is_flag=True)
def get_command(symbol, timeframe, strategy, email, base, as_json) -> None:
    """The parameters the slice trades now (in the current market regime): user -> production -> default."""
    resolved = get_parameters(
        symbol=symbol,
        timeframe=timeframe,
        strategy=strategy,
        user=find_user(email) if email else None,
        market=None if base else "current",
    ).to_dict()
    if as_json:
        _json(resolved)
        return
    click.echo(
        f"{symbol} {timeframe} {strategy}: source {resolved['source']}"
        + (f" (set {resolved['set_id']}, as of {resolved['as_of']})" if resolved["as_of"] else "")
        + (f", its own set for the current regime {resolved['regime']}" if resolved["regime"] else "")
    )
    click.echo(f"  params: {_params_text(resolved['params'])}")
    click.echo(f"  confidence: {resolved['confidence']}")


@params_cli.command("suggest")
@slice_arguments
@click.option("--json", "as_json", is_flag=True)
def suggest_command(symbol, timeframe, strategy, as_json) -> None:
    """Whether the newest job's robust best should replace the active set, and whether that set is stale."""
    suggestion = suggest_parameter_updates(symbol=symbol, timeframe=timeframe, strategy=strategy)
    if as_json:
        _json(suggestion)
        return
    click.echo(f"needs update: {'yes' if suggestion['needs_update'] else 'no'}: {suggestion['reason']}")
    if suggestion["suggested"]:
        click.echo(f"  suggested: {_params_text(suggestion['suggested'])}")
    for reason in suggestion["stale_reasons"]:
        click.echo(f"  stale: {reason}")


@params_cli.command("copy")
@click.argument("email")
@click.option("--run", "run_id", type=int, default=None, help="Copy this stored run's parameters.")
@click.option(
    "--production",
    "production",
    nargs=3,
    default=None,
    metavar="SYMBOL TIMEFRAME STRATEGY",
    help="Copy the parameters production trades for this slice.",
)
def copy_command(email, run_id, production) -> None:
    """Copy a run's or production's parameters into a premium user's own set (symbol and strategy)."""
    if (run_id is None) == (not production):
        raise click.UsageError("give exactly one of --run RUN_ID or --production SYMBOL TIMEFRAME STRATEGY")
    user = find_user(email)
    if run_id is not None:
        saved = user_parameters.copy_run(user, run_id=run_id)
    else:
        symbol, timeframe, strategy = production
        saved = user_parameters.copy_production(user, symbol=symbol, timeframe=timeframe, strategy=strategy)
    click.echo(
        f"{user.email}: {saved['symbol']} {saved['strategy']} now uses {_params_text(saved['params'])} "
        f"(from {saved['params_source']})"
    )


@params_cli.command("clear")
@click.argument("email")
@click.argument("symbol")
@click.argument("strategy")
def clear_command(email, symbol, strategy) -> None:
    """Switch a premium user's custom set off: they trade production parameters again."""
    user_parameters.clear_custom(find_user(email), symbol=symbol, strategy=strategy)
    click.echo(f"{email}: {symbol} {strategy} follows production again")
