"""``flask scripts ...``: the trading-script catalogue (import, export, analyze, search, show, stats)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup

from app.errors import AppError, ConflictError, NotFoundError, ValidationError
from app.services import catalogue as script_catalogue

scripts_cli = AppGroup("scripts", help="The trading-script catalogue (Pine Script strategies and indicators).")


class CommandError(click.ClickException):
    """A user-facing failure with the exit codes of docs/design-rules.md#exit-codes: 2 bad input, 1 retry may help."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def app_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn AppErrors into one clear line and an exit code (2 bad input or unknown slug, 1 otherwise)."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (ValidationError, NotFoundError) as exc:
            raise CommandError(exc.message, 2) from None
        except ConflictError as exc:
            raise CommandError(exc.message, 1) from None
        except AppError as exc:
            raise CommandError(exc.message, 1) from None

    return wrapper


@scripts_cli.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@app_errors
def import_command(path: Path) -> None:
    """Import a JSONL catalogue (one script per line); all lines or none, upserted by slug."""
    result = script_catalogue.import_jsonl(str(path))
    click.echo(
        f"{path.name}: {result.received} scripts read, {result.inserted} new, {result.updated} updated, "
        f"{result.unchanged} unchanged"
        + (f"; {result.skipped_notes} code fragments the analysis skipped" if result.skipped_notes else "")
    )


@scripts_cli.command("export")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Default: stdout.")
@app_errors
def export_command(output: Path | None) -> None:
    """Write the catalogue as JSONL (importing it again changes nothing)."""
    handle = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115 - stdout is not closed
    count = 0
    try:
        for record in script_catalogue.export_records():
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    finally:
        if output:
            handle.close()
    if output:
        click.echo(f"{count} scripts written to {output}")


@scripts_cli.command("analyze")
@app_errors
def analyze_command() -> None:
    """Re-run the Pine Script analysis on every stored script (after the analyzer improved)."""
    result = script_catalogue.analyze_all()
    click.echo(
        f"{result.analyzed} scripts analyzed, {result.changed} changed, {result.skipped_notes} code fragments skipped"
    )


@scripts_cli.command("search")
@click.argument("query", required=False, default="")
@click.option("--limit", type=click.IntRange(1, script_catalogue.MAX_LIMIT), default=10, show_default=True)
@click.option("--script-type", type=click.Choice(script_catalogue.SCRIPT_TYPES), default=None)
@click.option("--strategy-type", default=None)
@click.option("--indicator", default=None)
@click.option("--timeframe", default=None)
@click.option("--open-source/--closed-source", "open_source", default=None)
@click.option("--sort", type=click.Choice(script_catalogue.SORTS), default="relevance", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the hits as a JSON list, best first.")
@app_errors
def search_command(query: str, limit: int, as_json: bool, open_source: bool | None, **filters: Any) -> None:
    """Full-text search over titles and descriptions (a title match ranks first)."""
    args = {key: value for key, value in filters.items() if value is not None}
    if open_source is not None:
        args["open_source"] = "true" if open_source else "false"
    page = script_catalogue.search_scripts(
        script_catalogue.parse_search_params({**args, "query": query, "limit": limit})
    )
    if as_json:
        click.echo(json.dumps([hit.to_dict() for hit in page.hits], indent=2, ensure_ascii=False))
        return
    if not page.hits:
        click.echo("no scripts match")
        return
    click.echo(f"{'score':>8}  {'likes':>7}  {'type':<9}  {'slug':<32}  title")
    for hit in page.hits:
        click.echo(f"{hit.score:>8.3f}  {hit.likes:>7}  {hit.script_type:<9}  {hit.slug:<32}  {hit.title}")
    click.echo(f"{len(page.hits)} of {page.total} matching scripts")


@scripts_cli.command("show")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print the stored record as JSON.")
@app_errors
def show_command(slug: str, as_json: bool) -> None:
    """Show one script: its record, indicators, signals and extracted inputs."""
    detail = script_catalogue.script_detail(slug)
    if as_json:
        click.echo(json.dumps(detail, indent=2, ensure_ascii=False))
        return
    click.echo(f"{detail['title']}  [{detail['slug']}] by {detail['author']}")
    click.echo(
        f"  {detail['script_type']}, {detail['strategy_type'] or 'no strategy type'}, "
        f"{'open source' if detail['is_open_source'] else 'closed source'}, Pine v{detail['pine_version'] or '?'}; "
        f"{detail['likes']} likes, {detail['views']} views"
    )
    click.echo(f"  indicators: {', '.join(detail['indicators']) or '-'}")
    click.echo(f"  signals:    {', '.join(detail['signals']) or '-'}")
    click.echo(f"  timeframes: {', '.join(detail['timeframes']) or '-'}")
    click.echo("  inputs:" if detail["parameters"] else "  inputs: none found")
    for item in detail["parameters"]:
        limits = ", ".join(f"{key} {item[key]}" for key in ("minval", "maxval", "step", "options") if key in item)
        click.echo(
            f"    {item['name']:<20} {item['type']:<9} default {json.dumps(item['default'])}"
            + (f"  ({limits})" if limits else "")
            + (f'  "{item["title"]}"' if item.get("title") else "")
        )
    for note in detail["analysis_skipped"]:
        click.echo(f"  skipped: {note}")


@scripts_cli.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@app_errors
def stats_command(as_json: bool) -> None:
    """Counts by type, top indicators, their period distributions and the optimizer comparison."""
    stats = script_catalogue.catalogue_stats()
    if as_json:
        click.echo(json.dumps(stats, indent=2))
        return
    click.echo(f"{stats['total']} scripts: " + ", ".join(f"{n} {t}" for t, n in stats["by_script_type"].items()))
    click.echo("strategy types: " + ", ".join(f"{t} {n}" for t, n in stats["by_strategy_type"].items()))
    click.echo("top indicators: " + ", ".join(f"{i['name']} {i['scripts']}" for i in stats["top_indicators"]))
    for name, rows in stats["indicator_periods"].items():
        click.echo(f"  {name:<10} " + ", ".join(f"{r['periods']} x{r['scripts']}" for r in rows[:8]))
    for insight in stats["insights"]:
        click.echo(insight["text"])
