"""``flask optimize ...``: create, run and inspect optimization jobs."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from app.cli.progress import optimization_progress
from app.errors import AppError
from app.models import OptimizationJob
from app.services.optimizer import ParameterOptimizer

optimize_cli = AppGroup("optimize", help="Parameter optimization jobs.")


def _split(value: str | None) -> list[str] | None:
    return [item.strip() for item in value.split(",") if item.strip()] if value else None


def scope_options(command):
    """Options shared by ``optimize new`` and ``scripts/run_optimization.py``."""
    for option in reversed(
        [
            click.option("--preset", type=click.Choice(["quick", "default"]), default="default", show_default=True),
            click.option("--grid", "grid_json", default=None, help="Custom grid as JSON (overrides --preset)."),
            click.option("--symbols", default=None, help="Comma-separated (default: every active symbol)."),
            click.option("--timeframes", default=None, help="Comma-separated (default: OPTIMIZE_TIMEFRAMES)."),
            click.option("--patterns", default=None, help="Comma-separated pattern types (default: all)."),
            click.option("--start", default=None, help="Start date (default: lookback from the newest candle)."),
            click.option("--end", default=None, help="End date (default: the newest stored candle)."),
            click.option("--name", default=None, help="Job name."),
            click.option(
                "--validation",
                type=click.Choice(["none", "walk_forward"]),
                default="none",
                show_default=True,
                help="Walk-forward validate every slice (5 rolling 70/30 windows).",
            ),
            click.option(
                "--monte-carlo/--no-monte-carlo",
                default=True,
                show_default=True,
                help="Resample each slice's best run 1,000 times.",
            ),
        ]
    ):
        command = option(command)
    return command


def create_from_options(preset, grid_json, symbols, timeframes, patterns, start, end, name, validation, monte_carlo):
    """Create a job from CLI options (defaults fill what is not given)."""
    grid = preset
    if grid_json:
        try:
            grid = json.loads(grid_json)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--grid") from None
    return ParameterOptimizer().create_default_job(
        grid=grid,
        symbols=_split(symbols),
        timeframes=_split(timeframes),
        pattern_types=_split(patterns),
        start_date=start,
        end_date=end,
        name=name,
        validation=validation,
        monte_carlo=monte_carlo,
    )


def run_with_progress(job_id: int, workers: int | None) -> int:
    """Run a job showing progress; return the exit status (0 completed, 1 failed)."""
    job = ParameterOptimizer(workers=workers).run_job(job_id, progress=optimization_progress())
    click.echo(f"job {job.id} {job.status}: {job.summary}")
    return 0 if job.status == "completed" else 1


@optimize_cli.command("new")
@scope_options
@click.option("--run/--no-run", "run_now", default=False, help="Run the job right away.")
@click.option("--workers", type=click.IntRange(min=1), default=None)
def new_command(run_now: bool, workers: int | None, **options) -> None:
    """Create a job (by default over every active symbol and configured timeframe)."""
    try:
        job = create_from_options(**options)
        click.echo(f"created job {job.id} '{job.name}': {job.total_runs} runs")
        if run_now and run_with_progress(job.id, workers):
            raise SystemExit(1)
    except AppError as exc:
        raise click.ClickException(exc.message) from None


@optimize_cli.command("run")
@click.argument("job_id", type=int)
@click.option("--workers", type=click.IntRange(min=1), default=None)
def run_command(job_id: int, workers: int | None) -> None:
    """Run (or resume) a job."""
    try:
        status = run_with_progress(job_id, workers)
    except AppError as exc:
        raise click.ClickException(exc.message) from None
    if status:
        raise SystemExit(status)


@optimize_cli.command("status")
@click.argument("job_id", type=int, required=False)
def status_command(job_id: int | None) -> None:
    """Show one job in detail, or the newest jobs."""
    try:
        optimizer = ParameterOptimizer()
        if job_id is None:
            click.echo(jobs_table(optimizer.list_jobs(limit=20)))
        else:
            click.echo(job_text(optimizer.get_job(job_id)))
    except AppError as exc:
        raise click.ClickException(exc.message) from None


@optimize_cli.command("best")
@click.option("--symbol", default=None)
@click.option("--timeframe", default=None)
@click.option("--pattern", "pattern_type", default=None)
@click.option("--metric", default="total_profit_pct", show_default=True)
@click.option("--min-trades", type=click.IntRange(min=0), default=10, show_default=True)
@click.option("--robust", is_flag=True, help="Rank by stability score (neighbour-averaged) instead.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def best_command(symbol, timeframe, pattern_type, metric, min_trades, robust, as_json) -> None:
    """Show the best parameters per slice."""
    try:
        rows = ParameterOptimizer().get_best_params(
            symbol=symbol,
            timeframe=timeframe,
            pattern_type=pattern_type,
            metric=metric,
            min_trades=min_trades,
            robust=robust,
        )
    except AppError as exc:
        raise click.ClickException(exc.message) from None
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("no completed runs with enough trades")
        return
    click.echo(best_table(rows))


def jobs_table(jobs: list[OptimizationJob]) -> str:
    """Render a one-line-per-job overview."""
    if not jobs:
        return "no optimization jobs"
    lines = [f"{'id':>4}  {'status':<10}{'progress':>9}  {'runs':>13}  name"]
    for job in jobs:
        done = job.completed_runs + job.failed_runs
        lines.append(f"{job.id:>4}  {job.status:<10}{job.progress_pct:>8}%  {done:>6}/{job.total_runs:<6}  {job.name}")
    return "\n".join(lines)


def job_text(job: OptimizationJob) -> str:
    """Render one job: scope, progress, summary and best parameters per slice."""
    lines = [
        f"job {job.id}: {job.name} [{job.status}]",
        f"  scope: {', '.join(job.symbols)} x {', '.join(job.timeframes)} x {', '.join(job.pattern_types)}",
        f"  range: {job.start_date} .. {job.end_date}; ranking: {job.ranking_metric} (min {job.min_trades} trades)",
        f"  costs: commission {job.commission_pct}%/side, slippage {job.slippage_pct}%, risk {job.risk_per_trade_pct}%",
        f"  progress: {job.completed_runs} completed + {job.failed_runs} failed"
        f" of {job.total_runs} ({job.progress_pct}%)",
    ]
    if job.summary:
        lines.append(f"  summary: {job.summary}")
    if job.best_params_json:
        lines.append("  best per slice:")
        rows = [
            {"label": label, "params": best["params"], "metrics": best["metrics"]}
            for label, best in sorted(job.best_params_json.items())
        ]
        lines.extend("    " + line for line in _best_lines(rows))
        robust = [
            {"label": label, "params": best["robust"]["params"], "metrics": best["robust"]["metrics"]}
            for label, best in sorted(job.best_params_json.items())
            if best.get("robust")
        ]
        if robust:
            lines.append("  robust best per slice (highest stability score: the metric averaged over grid neighbours):")
            lines.extend("    " + line for line in _best_lines(robust))
    lines.extend(validation_lines(job))
    return "\n".join(lines)


def validation_lines(job: OptimizationJob) -> list[str]:
    """Render the lookahead guard, walk-forward and Monte Carlo results stored with a job."""
    results = job.validation_json or {}
    lines = []
    for pattern_type, verdict in sorted(results.get("lookahead", {}).items()):
        detail = verdict.get("checked_on") or verdict.get("error", "")
        lines.append(f"  lookahead guard {pattern_type}: {verdict['status']} ({detail})")
        lines.extend(f"    {v}" for v in verdict.get("violations", [])[:3])
    for label, checks in sorted((k, v) for k, v in results.items() if k != "lookahead"):
        if "walk_forward" in checks:
            lines.extend(_walk_forward_lines(label, checks["walk_forward"]))
        if "monte_carlo" in checks:
            lines.extend(_monte_carlo_lines(label, checks["monte_carlo"]))
    return lines


def _walk_forward_lines(label: str, result: dict) -> list[str]:
    summary = result["summary"]
    efficiency = summary.get("walk_forward_efficiency")
    lines = [
        f"  walk-forward {label}: efficiency {'n/a (no in-sample edge)' if efficiency is None else f'{efficiency:.2f}'}"
        f", parameters changed {summary['param_changes']}x over {len(result['splits'])} windows",
        f"    {'test window':<25}{'rr':>5}{'sl%':>5}  {'in-sample: trades':>17}{'exp R':>7}{'profit%':>9}"
        f"  {'out-of-sample: trades':>21}{'exp R':>7}{'profit%':>9}",
    ]
    for split in result["splits"]:
        ins, oos, p = split["in_sample"], split["out_of_sample"], split["params"]
        window = f"{split['test_start'][:10]}..{split['test_end'][:10]}"
        lines.append(
            f"    {window:<25}{p['rr_target']:>5}{p['sl_buffer_pct']:>5.0f}  {ins['total_trades']:>17}"
            f"{ins['expectancy_r']:>7.3f}{ins['total_profit_pct']:>9.1f}  {oos['total_trades']:>21}"
            f"{oos['expectancy_r']:>7.3f}{oos['total_profit_pct']:>9.1f}"
        )
    stitched = summary["out_of_sample"]
    lines.append(
        f"    stitched out-of-sample: {stitched['total_trades']} trades, expectancy {stitched['expectancy_r']:.3f} R, "
        f"profit {stitched['total_profit_pct']:.1f}%, max drawdown {stitched['max_drawdown']:.1f}%"
    )
    return lines


def _monte_carlo_lines(label: str, result: dict) -> list[str]:
    ret, dd = result["total_return_pct"], result["max_drawdown_pct"]
    return [
        f"  monte carlo {label} (best run, {result['n_simulations']} {result['method']}s"
        f" of {result['n_trades']} trades):"
        f" return p5 {ret['p5']:.1f}% / p50 {ret['p50']:.1f}% / p95 {ret['p95']:.1f}%;"
        f" max drawdown p50 {dd['p50']:.1f}% / p95 {dd['p95']:.1f}%;"
        f" P(drawdown > {result['drawdown_threshold']:.0f}%) = {result['prob_drawdown_exceeds']:.2f}"
    ]


def best_table(rows: list[dict]) -> str:
    """Render best-parameter rows from ``get_best_params``."""
    return "\n".join(_best_lines([{"label": f"{r['symbol']}|{r['timeframe']}|{r['pattern_type']}", **r} for r in rows]))


def _best_lines(rows: list[dict]) -> list[str]:
    header = f"{'slice':<32}{'rr':>5}{'sl%':>5}{'zone%':>6}  {'tp':<13}{'entry':<10}{'ovl':<4}"
    header += f"{'trades':>7}{'win%':>7}{'profit%':>9}{'maxDD%':>8}{'score':>7}"
    lines = [header]
    for row in rows:
        p, m = row["params"], row["metrics"]
        lines.append(
            f"{row['label']:<32}{p['rr_target']:>5}{p['sl_buffer_pct']:>5.0f}{p['min_zone_pct']:>6}  "
            f"{p['tp_method']:<13}{p['entry_method']:<10}{'y' if p['use_overlap'] else 'n':<4}"
            f"{m['total_trades']:>7}{m['win_rate']:>7.1f}{m['total_profit_pct']:>9.1f}"
            f"{m['max_drawdown']:>8.1f}{m['composite_score']:>7.2f}"
        )
    return lines
