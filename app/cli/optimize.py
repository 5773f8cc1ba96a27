"""``flask optimize ...``: create, run and inspect optimization jobs."""

from __future__ import annotations

import json
import signal

import click

from app.cli.errors import CliGroup
from app.cli.progress import optimization_progress
from app.core.costs import COST_PRESETS
from app.enums import JobStatus, ValidationMode, values
from app.evaluation.warmup import warm_kernels
from app.models import OptimizationJob
from app.services.optimizer import jobs, results
from app.services.optimizer.retention import prune_runs
from app.services.optimizer.runner import JobRunner
from app.services.optimizer.worker import OptimizerWorker

optimize_cli = CliGroup(
    "optimize", help="Parameter optimization jobs (exit 0 done, 1 a slice failed, 2 bad input, 3 busy)."
)
PRESETS = ("default", "quick")  # every strategy declares both


def _split(value: str | None, option: str) -> list[str] | None:
    """Return a comma-separated option as a list; None when not given; refuse one that names nothing."""
    if value is None:
        return None
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise click.BadParameter(
            "names nothing: give comma-separated values or leave the option out", param_hint=option
        )
    return items


def scope_options(command):
    """Options shared by ``optimize new`` and ``scripts/run_optimization.py``."""
    for option in reversed(
        [
            click.option("--preset", type=click.Choice(PRESETS), default="default", show_default=True),
            click.option(
                "--grid",
                "grid_json",
                default=None,
                help="Custom grid as a JSON object (overrides --preset): one grid "
                "for every strategy, or {strategy: grid or preset}.",
            ),
            click.option("--symbols", default=None, help="Comma-separated (default: every active symbol)."),
            click.option("--timeframes", default=None, help="Comma-separated (default: OPTIMIZE_TIMEFRAMES)."),
            click.option("--strategies", default=None, help="Comma-separated strategy names (default: all)."),
            click.option("--start", default=None, help="Start date (default: lookback from the newest candle)."),
            click.option("--end", default=None, help="End date (default: the newest stored candle)."),
            click.option("--name", default=None, help="Job name."),
            click.option(
                "--validation",
                type=click.Choice(values(ValidationMode)),
                default=ValidationMode.NONE.value,
                show_default=True,
                help="Walk-forward validate every slice (5 rolling 70/30 windows).",
            ),
            click.option(
                "--monte-carlo/--no-monte-carlo",
                default=True,
                show_default=True,
                help="Resample each slice's best run 1,000 times.",
            ),
            click.option(
                "--costs",
                type=click.Choice(list(COST_PRESETS)),
                default="binance_spot",
                show_default=True,
                help="Venue cost preset (maker/taker fees, slippage).",
            ),
            click.option("--maker-fee", type=float, default=None, help="Maker fee in percent (overrides --costs)."),
            click.option("--taker-fee", type=float, default=None, help="Taker fee in percent (overrides --costs)."),
            click.option("--slippage", type=float, default=None, help="Slippage on taker fills, percent."),
        ]
    ):
        command = option(command)
    return command


def create_from_options(
    *,
    preset,
    grid_json,
    symbols,
    timeframes,
    strategies,
    start,
    end,
    name,
    validation,
    monte_carlo,
    costs,
    maker_fee,
    taker_fee,
    slippage,
) -> OptimizationJob:
    """Create a job from CLI options (defaults fill what is not given)."""
    grids = preset
    if grid_json is not None:
        try:
            grids = json.loads(grid_json)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--grid") from None
        if not isinstance(grids, dict):
            raise click.BadParameter("must be a JSON object of parameter lists", param_hint="--grid")
    overrides = {"maker_fee_pct": maker_fee, "taker_fee_pct": taker_fee, "slippage_pct": slippage}
    cost_model = {**COST_PRESETS[costs].as_dict(), **{k: v for k, v in overrides.items() if v is not None}}
    return jobs.create_sweep_job(
        grids=grids,
        symbols=_split(symbols, "--symbols"),
        timeframes=_split(timeframes, "--timeframes"),
        strategies=_split(strategies, "--strategies"),
        start_date=start,
        end_date=end,
        name=name,
        validation=validation,
        monte_carlo=monte_carlo,
        costs=cost_model,
    )


def run_with_progress(job_id: int, workers: int | None) -> int:
    """Run a job showing progress; return the exit status (0 completed, 1 failed)."""
    job = JobRunner(workers=workers).run(job_id, progress=optimization_progress())
    click.echo(f"job {job.id} {job.status}: {job.summary}")
    return 0 if job.status == JobStatus.COMPLETED else 1


@optimize_cli.command("new")
@scope_options
@click.option("--run/--no-run", "run_now", default=False, help="Run the job right away.")
@click.option("--workers", type=click.IntRange(min=1), default=None)
def new_command(run_now: bool, workers: int | None, **options) -> None:
    """Create a job (by default over every active symbol, configured timeframe and strategy)."""
    job = create_from_options(**options)
    click.echo(f"created job {job.id} '{job.name}': {job.total_runs} runs")
    click.echo(f"luck: {jobs.job_luck(job)['warning']}")
    if run_now and run_with_progress(job.id, workers):
        raise SystemExit(1)


@optimize_cli.command("run")
@click.argument("job_id", type=int)
@click.option("--workers", type=click.IntRange(min=1), default=None)
def run_command(job_id: int, workers: int | None) -> None:
    """Run (or resume) a job."""
    status = run_with_progress(job_id, workers)
    if status:
        raise SystemExit(status)


@optimize_cli.command("worker")
@click.option("--poll", "poll_seconds", type=click.FloatRange(min=0.1), default=None, help="Seconds between polls.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes per job.")
@click.option("--once", is_flag=True, help="Run the waiting jobs, then exit (no polling).")
@click.option(
    "--warm/--no-warm", default=True, show_default=True, help="Load every numba kernel before the first poll."
)
def worker_command(poll_seconds: float | None, workers: int | None, once: bool, warm: bool) -> None:
    """Run jobs as they appear until SIGTERM or Ctrl-C (a running job's computing slices are stored, then
    the job is released for the next worker)."""
    worker = OptimizerWorker(poll_seconds=poll_seconds, workers=workers)

    def request_stop(signum, _frame) -> None:
        if worker.stopping:  # a second Ctrl-C: stop now (the job becomes stale and is resumed later)
            raise KeyboardInterrupt
        click.echo(f"{signal.Signals(signum).name}: stopping after the slices in progress", err=True)
        worker.stop()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if warm:  # load every kernel now (from numba's cache): the first job is then as fast as a warm one
            click.echo(warm_kernels().summary)
        report = worker.run(exit_when_idle=once)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo(report.summary)


@optimize_cli.command("prune")
@click.option("--keep-last", type=click.IntRange(min=0), default=None, help="Keep every run of the newest N jobs.")
@click.option("--older-than", type=click.IntRange(min=0), default=None, help="Only jobs created over DAYS ago.")
@click.option("--dry-run", is_flag=True, help="Count what would go; delete nothing.")
def prune_command(keep_last: int | None, older_than: int | None, dry_run: bool) -> None:
    """Delete old finished jobs' runs, keeping each slice's best runs, its checks and referenced runs."""
    click.echo(prune_runs(keep_last=keep_last, older_than_days=older_than, dry_run=dry_run).summary)


@optimize_cli.command("status")
@click.argument("job_id", type=int, required=False)
def status_command(job_id: int | None) -> None:
    """Show one job in detail, or the newest jobs."""
    if job_id is None:
        click.echo(jobs_table(jobs.list_jobs(limit=20)))
    else:
        click.echo(job_text(jobs.job_report(job_id)))


@optimize_cli.command("best")
@click.option("--symbol", default=None)
@click.option("--timeframe", default=None)
@click.option("--strategy", default=None)
@click.option("--metric", default="total_profit_pct", show_default=True)
@click.option("--min-trades", type=click.IntRange(min=0), default=10, show_default=True)
@click.option("--robust", is_flag=True, help="Rank by stability score (neighbour-averaged) instead.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def best_command(symbol, timeframe, strategy, metric, min_trades, robust, as_json) -> None:
    """Show the best parameters per slice."""
    rows = results.best_params(
        symbol=symbol,
        timeframe=timeframe,
        strategy=strategy,
        metric=metric,
        min_trades=min_trades,
        robust=robust,
    )
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


def job_text(report: dict) -> str:
    """Render one job report (``jobs.job_report``): scope, costs, progress, summary, best runs and checks."""
    costs, progress = report["costs"], report["progress"]
    scope = report["scope"]
    lines = [
        f"job {report['id']}: {report['name']} [{report['status']}]",
        f"  scope: {', '.join(scope['symbols'])} x {', '.join(scope['timeframes'])} x {', '.join(scope['strategies'])}",
        f"  range: {report['start_date']} .. {report['end_date']}; ranking: {report['ranking_metric']}"
        f" (min {report['min_trades']} trades)",
        f"  costs: maker {costs['maker_fee_pct']}%, taker {costs['taker_fee_pct']}%, slippage {costs['slippage_pct']}%"
        f" on taker fills, risk {costs['risk_per_trade_pct']}% per trade",
        f"  progress: {progress['completed_runs']} completed + {progress['failed_runs']} failed"
        f" of {progress['total_runs']} ({progress['percent']}%)",
    ]
    if report["summary"]:
        lines.append(f"  summary: {report['summary']}")
    best = [{"label": s["label"], **s["best"]} for s in report["slices"] if s["best"]]
    if best:
        lines.append("  best per slice:")
        lines.extend("    " + line for line in _best_lines(best))
    robust = [{"label": s["label"], **s["robust"]} for s in report["slices"] if s["robust"]]
    if robust:
        lines.append("  robust best per slice (highest stability score: the metric averaged over grid neighbours):")
        lines.extend("    " + line for line in _best_lines(robust))
    lines.extend(validation_lines(report))
    return "\n".join(lines)


def validation_lines(report: dict) -> list[str]:
    """Render the lookahead guard, walk-forward and Monte Carlo results of a job report."""
    lines = []
    for strategy, verdict in sorted(report["lookahead"].items()):
        detail = verdict.get("checked_on") or verdict.get("error", "")
        if verdict.get("reused"):
            detail += f"; reused from job {verdict['reused']['job_id']}'s identical check"
        lines.append(f"  lookahead guard {strategy}: {verdict['status']} ({detail})")
        lines.extend(f"    {v}" for v in verdict.get("violations", [])[:3])
    for item in report["slices"]:
        checks = item["checks"]
        if "walk_forward" in checks:
            lines.extend(_walk_forward_lines(item["label"], checks["walk_forward"]))
        if "monte_carlo" in checks:
            lines.extend(_monte_carlo_lines(item["label"], checks["monte_carlo"]))
        if "regimes" in checks:
            lines.extend(_regime_lines(item["label"], checks["regimes"]))
    return lines


def _regime_lines(label: str, result: dict) -> list[str]:
    """The best run per regime (trades, expectancy) and the regimes that got a set of their own."""
    cells = [f"{name} {m['trades']} x {m['expectancy_r']:+.3f} R" for name, m in sorted(result["best_run"].items())]
    own = ", ".join(f"{name} ({_params_text(s['params'])})" for name, s in sorted(result["sets"].items()))
    return [
        f"  regimes {label} (best run, by regime at signal): {'; '.join(cells) or 'no trades'}",
        f"    own sets (>= {result['settings']['min_trades']} trades and positive there): {own or 'none'}",
    ]


def _walk_forward_lines(label: str, result: dict) -> list[str]:
    summary = result["summary"]
    efficiency = summary.get("walk_forward_efficiency")
    lines = [
        f"  walk-forward {label}: efficiency {'n/a (no in-sample edge)' if efficiency is None else f'{efficiency:.2f}'}"
        f", parameters changed {summary['param_changes']}x over {len(result['splits'])} windows",
        f"    {'test window':<25}{'in-sample: trades':>17}{'exp R':>7}{'profit%':>9}"
        f"  {'out-of-sample: trades':>21}{'exp R':>7}{'profit%':>9}",
    ]
    for split in result["splits"]:
        ins, oos = split["in_sample"], split["out_of_sample"]
        window = f"{split['test_start'][:10]}..{split['test_end'][:10]}"
        lines.append(
            f"    {window:<25}{ins['total_trades']:>17}"
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
    """Render best-parameter rows from ``results.best_params``."""
    return "\n".join(_best_lines([{"label": f"{r['symbol']}|{r['timeframe']}|{r['strategy']}", **r} for r in rows]))


def _params_text(params: dict) -> str:
    return " ".join(f"{name}={value}" for name, value in params.items())


def _best_lines(rows: list[dict]) -> list[str]:
    header = f"{'slice':<32}{'trades':>7}{'win%':>7}{'profit%':>9}{'maxDD%':>8}{'score':>7}  parameters"
    lines = [header]
    for row in rows:
        m = row["metrics"]
        lines.append(
            f"{row['label']:<32}{m['total_trades']:>7}{m['win_rate']:>7.1f}{m['total_profit_pct']:>9.1f}"
            f"{m['max_drawdown']:>8.1f}{m['composite_score']:>7.2f}  {_params_text(row['params'])}"
        )
    return lines
