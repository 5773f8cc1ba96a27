"""The auto-tuner: promote a job's best parameters to production only when they are better and trustworthy.

Per slice, the candidate is the newest completed job's robust best run (or
its raw best, or one named run). ``judge`` checks, in this order, and the
first failure is the reason a slice is skipped:

1. too few trades: no run reached the job's ``min_trades`` (or the named run did not);
2. negative expectancy: the candidate's expectancy after costs (net R per
   trade) is not positive; a set that lost money is never promoted;
3. failed walk-forward: the stitched out-of-sample expectancy is not
   positive, or the job ran no walk-forward (``AUTOTUNE_REQUIRE_WALK_FORWARD``,
   on by default: in-sample results alone are no evidence);
4. luck: the slice's selection statistics (``app.evaluation.selection``) say
   the candidate is no better than the best of its trials by chance: its
   Deflated Sharpe Ratio is below ``AUTOTUNE_MIN_DSR`` (0.95) over the
   slice's cumulative effective trials, or the slice's PBO is above
   ``AUTOTUNE_MAX_PBO`` (0.2); the optimizer measured the best and robust-best
   runs, any other run is measured on the job's candles the same way; a slice
   without statistics (a job from before they existed, too few candles) is
   refused;
5. already active: production trades these parameters now;
6. cannot re-evaluate: the job's candles are no longer stored;
7. below threshold: on the job's ranking metric, re-evaluated for the active
   set on the same candles and costs (its stored run when the grid held it, a
   backtest otherwise), the candidate does not beat it by ``min_improvement_pct``.

A slice whose own candidate is refused gets a second chance: its job's top
set pooled across the job's symbols of that timeframe and strategy
(``selection.pooled``: ranked by its worst slice), judged by the same checks
on this slice; both reasons are kept when it fails too.

What passes is ``proposed`` (dry run) or ``applied``. Every decision, dry run
or not, is written to the change log; a dry run writes nothing else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import pandas as pd
from flask import current_app
from sqlalchemy import func, select

from app.core.costs import CostModel
from app.core.metrics import METRIC_NAMES
from app.enums import JobStatus, ParamAction, ParamSource, SliceStatus, ValidationMode
from app.errors import AppError, NotFoundError, ValidationError
from app.evaluation.backtest import run_backtest
from app.evaluation.scoring import RANKING_METRICS, composite_score
from app.evaluation.selection.gate import luck_check_on, luck_refusal
from app.evaluation.selection.slice_report import measure_run
from app.evaluation.slice_eval import candles_fingerprint
from app.extensions import db
from app.models import OptimizationJob, OptimizationRun, OptimizationSlice
from app.services.candles.candle_store import load_candles
from app.services.optimizer.jobs import end_of
from app.services.optimizer.pooled import pooled_run
from app.services.params import parameter_sets
from app.services.params.provenance import run_card
from app.strategies import get_strategy

DEFAULT_MIN_IMPROVEMENT_PCT = 5.0


class Candidate(NamedTuple):
    """What the auto-tuner judges for one slice: the slice, its job and the run proposed (None: no run qualified)."""

    slice_: OptimizationSlice
    job: OptimizationJob
    run: OptimizationRun | None


@dataclass
class TuneDecision:
    """What the auto-tuner decided for one slice, and why."""

    symbol: str
    timeframe: str
    strategy: str
    decision: str  # applied | proposed | skipped
    reason: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    improvement_pct: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    job_id: int | None = None
    run_id: int | None = None
    set_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "strategy": self.strategy,
            "decision": self.decision,
            "reason": self.reason,
            "before": self.before,
            "after": self.after,
            "improvement_pct": self.improvement_pct,
            "metrics": self.metrics,
            "job_id": self.job_id,
            "run_id": self.run_id,
            "set_id": self.set_id,
        }


def apply_best_params(
    symbol: str | None = None,
    strategy: str | None = None,
    *,
    timeframe: str | None = None,
    min_improvement_pct: float = DEFAULT_MIN_IMPROVEMENT_PCT,
    dry_run: bool = True,
    robust: bool = True,
    actor: str = "autotune",
    run_id: int | None = None,
    min_trades: int | None = None,
) -> list[TuneDecision]:
    """Judge (and unless ``dry_run``, apply) each slice's candidate; log every decision; return them.

    ``run_id`` judges that run instead of the newest job's best (the
    dashboard's Apply). ``min_trades`` defaults to each job's own.
    """
    if min_improvement_pct < 0:
        raise ValidationError("min_improvement_pct must be >= 0")
    decisions = []
    found = candidates(symbol=symbol, strategy=strategy, timeframe=timeframe, robust=robust, run_id=run_id)
    for candidate in found:
        decision = judge(candidate, min_improvement_pct=min_improvement_pct, min_trades=min_trades)
        if run_id is None and decision.decision == ParamAction.SKIPPED:
            decision, candidate = judge_pooled(
                decision, candidate, min_improvement_pct=min_improvement_pct, min_trades=min_trades
            )
        if decision.decision == ParamAction.PROPOSED and not dry_run:
            decision = _apply(decision, candidate, actor=actor, source=ParamSource.RUN if run_id else None)
        else:
            _log(decision, actor=actor, dry_run=dry_run)
        decisions.append(decision)
    db.session.commit()
    return decisions


def candidates(
    *, symbol: str | None, strategy: str | None, timeframe: str | None, robust: bool, run_id: int | None = None
) -> list[Candidate]:
    """Return the candidate of each slice: the newest completed slice of each, or ``run_id``'s."""
    if run_id is not None:
        run = db.session.get(OptimizationRun, run_id)
        if run is None:
            raise NotFoundError(f"optimization run {run_id} not found")
        return [Candidate(run.slice, db.session.get(OptimizationJob, run.job_id), run)]
    query = (
        select(OptimizationSlice, OptimizationJob)
        .join(OptimizationJob, OptimizationJob.id == OptimizationSlice.job_id)
        .where(OptimizationSlice.status == SliceStatus.COMPLETED, OptimizationJob.status != JobStatus.CANCELLED)
        .order_by(OptimizationSlice.job_id.desc())
    )
    for column, value in (
        (OptimizationSlice.symbol, symbol),
        (OptimizationSlice.strategy, strategy),
        (OptimizationSlice.timeframe, timeframe),
    ):
        if value is not None:
            query = query.where(column == value)
    newest: dict[tuple[str, str, str], tuple] = {}
    for slice_, job in db.session.execute(query):
        newest.setdefault((slice_.symbol, slice_.timeframe, slice_.strategy), (slice_, job))
    out = []
    for key in sorted(newest):
        slice_, job = newest[key]
        chosen = slice_.robust_run_id if robust else slice_.best_run_id
        out.append(Candidate(slice_, job, db.session.get(OptimizationRun, chosen) if chosen else None))
    return out


def judge(
    candidate: Candidate, *, min_improvement_pct: float = DEFAULT_MIN_IMPROVEMENT_PCT, min_trades: int | None = None
) -> TuneDecision:
    """Decide one slice without writing anything (see the module docstring for the order of the checks)."""
    slice_, job, run = candidate
    active = parameter_sets.active_row(symbol=slice_.symbol, timeframe=slice_.timeframe, strategy=slice_.strategy)
    before = dict(active.params) if active else parameter_sets.default_params(slice_.strategy)
    decision = TuneDecision(
        symbol=slice_.symbol,
        timeframe=slice_.timeframe,
        strategy=slice_.strategy,
        decision=ParamAction.SKIPPED,
        reason="",
        before=before,
        after=dict(run.params) if run else None,
        job_id=job.id,
        run_id=run.id if run else None,
    )
    needed = job.min_trades if min_trades is None else min_trades
    oos = out_of_sample(slice_)
    decision.metrics = {
        "metric": job.ranking_metric,
        "candidate": run.metrics() if run else None,
        "out_of_sample": oos,
        "active_source": active.source if active else ParamSource.DEFAULT.value,
        "promotable_runs": promotable_runs(slice_, needed=needed),
    }
    reason = _refusal(
        slice_, job, run, oos, needed=needed, before=before, strategy=slice_.strategy, evidence=decision.metrics
    )
    if reason:
        decision.reason = reason + _others_note(reason, decision.metrics["promotable_runs"])
        return decision
    return _compare(decision, candidate, min_improvement_pct=min_improvement_pct)


def judge_pooled(
    refused: TuneDecision, candidate: Candidate, *, min_improvement_pct: float, min_trades: int | None
) -> tuple[TuneDecision, Candidate]:
    """The second chance of a slice whose own candidate was refused: its job's top set pooled across symbols,
    judged by the same checks on this slice. Returns the decision that stands and the candidate it judged."""
    slice_, job, run = candidate
    found = pooled_run(slice_, min_trades=job.min_trades if min_trades is None else min_trades)
    if found is None or (run is not None and found[0].id == run.id):
        return refused, candidate
    pooled = Candidate(slice_, job, found[0])
    second = judge(pooled, min_improvement_pct=min_improvement_pct, min_trades=min_trades)
    second.metrics["pooled"] = asdict(found[1])
    standing = f"the set {found[1].describe()}"
    if second.decision == ParamAction.SKIPPED:
        refused.reason += f"; {standing}: {second.reason}"
        return refused, candidate
    second.reason = f"{standing}; {second.reason}"
    return second, pooled


def gate_refusal(candidate: Candidate, *, evidence: dict[str, Any] | None = None) -> str | None:
    """Why the gate (checks 1-5) refuses the candidate now, or None when it passes them.

    What the pages ask before offering Apply, for every row at once: the same
    ``_refusal`` as ``judge``, without re-evaluating the active set (checks 6-7
    are the Apply confirmation's); only a run that is neither the slice's best
    nor its robust best costs a backtest (its luck is measured, and left in
    ``evidence["measured"]`` for the run's provenance card).
    """
    slice_, job, run = candidate
    active = parameter_sets.active_row(symbol=slice_.symbol, timeframe=slice_.timeframe, strategy=slice_.strategy)
    before = dict(active.params) if active else parameter_sets.default_params(slice_.strategy)
    oos = out_of_sample(slice_)
    evidence = {} if evidence is None else evidence
    return _refusal(
        slice_, job, run, oos, needed=job.min_trades, before=before, strategy=slice_.strategy, evidence=evidence
    )


def promotable_runs(slice_: OptimizationSlice, *, needed: int) -> int:
    """How many runs of the slice have enough trades and a positive expectancy after costs (could be promoted)."""
    return db.session.scalar(
        select(func.count()).where(
            OptimizationRun.slice_id == slice_.id,
            OptimizationRun.total_trades >= needed,
            OptimizationRun.expectancy_r > 0,
        )
    )


def _others_note(reason: str, promotable: int) -> str:
    """For a candidate refused on trades or expectancy, say whether any other run of the grid would pass those."""
    if not reason.startswith(("too few trades", "negative expectancy")):
        return ""
    return "; no run of the grid passes" if promotable == 0 else f"; {promotable} other run(s) of the grid would"


def out_of_sample(slice_: OptimizationSlice) -> dict[str, Any] | None:
    """The stitched out-of-sample metrics of the slice's walk-forward, or None when the job ran none."""
    walk = (slice_.checks_json or {}).get("walk_forward")
    return walk["summary"]["out_of_sample"] if walk else None


def _luck(slice_: OptimizationSlice, job: OptimizationJob, run: OptimizationRun, *, evidence: dict) -> str | None:
    """Check 4: the gate's luck check (``selection.gate``) on the slice's statistics for this run.

    The optimizer measured the best and robust-best runs; any other run of a
    measured slice (a pooled set, the dashboard's Apply) is measured here the
    same way, on the job's candles, deflated by the same trials.
    """
    bars = {"min_dsr": current_app.config["AUTOTUNE_MIN_DSR"], "max_pbo": current_app.config["AUTOTUNE_MAX_PBO"]}
    selection = (slice_.checks_json or {}).get("selection")
    chosen = {slice_.robust_run_id: "robust", slice_.best_run_id: "best"}.get(run.id)
    if chosen is None and luck_check_on(**bars) and (selection or {}).get("status") == "measured":
        measured = _measure(slice_, job, run, selection)
        if isinstance(measured, str):
            return f"no selection statistics: {measured}"
        evidence["measured"] = measured
        selection, chosen = {**selection, "candidate": measured}, "candidate"
    return luck_refusal(selection, chosen=chosen, **bars)


def _measure(slice_, job, run, selection: dict[str, Any]) -> dict[str, Any] | str:
    """The run's deflation (``measure_run``) on the job's candles, or why it cannot be measured."""
    gone = "the job's candles changed or are gone, so this run cannot be measured"
    try:
        candles = load_candles(slice_.symbol, slice_.timeframe, start=job.start_date, end=end_of(job.end_date))
    except AppError:
        return gone
    if candles.empty or candles_fingerprint(candles) != slice_.candles_fingerprint:
        return gone
    return measure_run(
        candles,
        strategy=slice_.strategy,
        params=run.params,
        costs=CostModel(**job.costs),
        selection=selection,
    )


def _refusal(
    slice_, job, run, oos, *, needed: int, before: dict[str, Any], strategy: str, evidence: dict[str, Any]
) -> str | None:
    """The reason the candidate may not be promoted (checks 1-5), or None; ``evidence``: the decision's metrics,
    where the luck check leaves the run's deflation when it had to measure it."""
    if run is None:
        return f"too few trades: no run of job {job.id} reached {needed} trades"
    if run.total_trades < needed:
        return f"too few trades: {run.total_trades} < {needed}"
    if run.expectancy_r <= 0:
        return f"negative expectancy after costs: {run.expectancy_r:+.3f} R per trade ({run.total_trades} trades)"
    if job.validation == ValidationMode.WALK_FORWARD:
        if oos is None:
            return "failed walk-forward: the job ran walk-forward but stored no result for this slice"
        if oos["expectancy_r"] <= 0:
            return f"failed walk-forward: out-of-sample expectancy {oos['expectancy_r']:+.3f} R per trade"
    elif current_app.config["AUTOTUNE_REQUIRE_WALK_FORWARD"]:
        return f"no walk-forward: job {job.id} ran none, and in-sample results alone are no evidence"
    luck = _luck(slice_, job, run, evidence=evidence)
    if luck:
        return luck
    if get_strategy(strategy).space.validate(run.params) == before:
        return "already active: production trades these parameters"
    return None


def _compare(decision: TuneDecision, candidate: Candidate, *, min_improvement_pct: float) -> TuneDecision:
    """Re-evaluate the active set on the job's candles, judge the gain on the ranking metric (checks 6, 7)."""
    slice_, job, run = candidate
    metric = job.ranking_metric
    try:
        active_metrics, candidate_metrics, note = evaluate_pair(candidate, active_params=decision.before)
    except (AppError, ValueError) as exc:  # candles gone: nothing to compare on, so nothing is promoted
        decision.reason = f"cannot re-evaluate the active set on the job's candles: {exc}"
        return decision
    active_value, candidate_value = metric_value(active_metrics, metric), metric_value(candidate_metrics, metric)
    pct = improvement_pct(active_value, candidate_value, higher_is_better=RANKING_METRICS[metric])
    decision.improvement_pct = pct
    decision.metrics.update(active=active_metrics, candidate=candidate_metrics, active_value=active_value)
    decision.metrics["candidate_value"] = candidate_value
    gain = "n/a (active scores 0)" if pct is None else f"{pct:+.1f}%"
    summary = f"{metric} {active_value:.3f} -> {candidate_value:.3f} ({gain}){note}"
    beats = candidate_value > active_value if RANKING_METRICS[metric] else candidate_value < active_value
    if not beats or (pct is not None and pct < min_improvement_pct):
        decision.reason = f"below threshold: {summary} < {min_improvement_pct:g}%"
        return decision
    decision.decision = ParamAction.PROPOSED
    oos = decision.metrics["out_of_sample"]
    tested = f", out-of-sample {oos['expectancy_r']:+.3f} R" if oos else ""
    regimes = regime_sets(slice_, run)
    decision.metrics["regime_sets"] = sorted(regimes) if regimes else []
    extra = f"; own sets for {', '.join(sorted(regimes))}" if regimes else ""
    decision.reason = (
        f"better: {summary}, {run.total_trades} trades, {run.expectancy_r:+.3f} R per trade{tested}{extra}"
    )
    return decision


def evaluate_pair(candidate: Candidate, *, active_params: dict[str, Any]) -> tuple[dict, dict, str]:
    """Return (active metrics, candidate metrics, note) on the slice's candles and the job's costs.

    Both come from the stored runs when the grid held the active set;
    otherwise the active set is backtested on the job's candles, and when
    those candles changed since the job the candidate is re-run too.
    """
    slice_, job, run = candidate
    active_metrics, candles = evaluate_params(slice_, job, params=active_params)
    if candles is None or candles_fingerprint(candles) == slice_.candles_fingerprint:
        return active_metrics, run.metrics(), ""
    note = " (candles changed since the job: both re-run)"
    return (
        active_metrics,
        backtest_metrics(candles, strategy=slice_.strategy, params=run.params, costs=CostModel(**job.costs)),
        note,
    )


def evaluate_params(slice_, job, *, params: dict[str, Any]) -> tuple[dict[str, Any], pd.DataFrame | None]:
    """Return the metrics of ``params`` on the slice's candles with the job's costs, and the candles loaded
    (None when the slice's stored run of those parameters answered). ValueError when the candles are gone."""
    space = get_strategy(slice_.strategy).space
    stored = db.session.scalar(
        select(OptimizationRun).where(
            OptimizationRun.slice_id == slice_.id, OptimizationRun.param_key == space.key(params)
        )
    )
    if stored is not None:
        return stored.metrics(), None
    candles = load_candles(slice_.symbol, slice_.timeframe, start=job.start_date, end=end_of(job.end_date))
    if candles.empty:
        raise ValueError(f"no candles stored for {slice_.symbol} {slice_.timeframe} in the job's range")
    return backtest_metrics(candles, strategy=slice_.strategy, params=params, costs=CostModel(**job.costs)), candles


def backtest_metrics(candles: pd.DataFrame, *, strategy: str, params: dict[str, Any], costs: CostModel) -> dict:
    """The stored-run metrics of one backtest (composite score without the thin-run penalty)."""
    full = run_backtest(candles, strategy=strategy, params=params, costs=costs)
    metrics = {name: full[name] for name in METRIC_NAMES}
    metrics["composite_score"] = composite_score(metrics)
    return metrics


def metric_value(metrics: dict[str, Any], metric: str) -> float:
    """The ranking value of a metrics dict; the composite score always without the thin-run penalty."""
    return composite_score(metrics) if metric == "composite_score" else float(metrics[metric])


def improvement_pct(active: float, candidate: float, *, higher_is_better: bool) -> float | None:
    """Relative gain of ``candidate`` over ``active`` in percent of |active|; None when active is 0."""
    gain = candidate - active if higher_is_better else active - candidate
    return None if active == 0 else round(100.0 * gain / abs(active), 2)


def _log(decision: TuneDecision, *, actor: str, dry_run: bool) -> None:
    parameter_sets.log_change(
        symbol=decision.symbol,
        timeframe=decision.timeframe,
        strategy=decision.strategy,
        action=decision.decision,
        reason=decision.reason,
        actor=actor,
        dry_run=dry_run,
        before=decision.before,
        after=decision.after,
        improvement_pct=decision.improvement_pct,
        job_id=decision.job_id,
        run_id=decision.run_id,
    )


def _apply(decision: TuneDecision, candidate: Candidate, *, actor: str, source: str | None) -> TuneDecision:
    slice_, job, run = candidate
    stored = parameter_sets.apply_set(
        symbol=slice_.symbol,
        timeframe=slice_.timeframe,
        strategy=slice_.strategy,
        params=run.params,
        source=source or ParamSource.JOB,
        actor=actor,
        reason=decision.reason,
        job_id=job.id,
        run_id=run.id,
        metrics=set_metrics(candidate, measured=decision.metrics.get("measured")),
        regime_sets=regime_sets(slice_, run),
        improvement_pct=decision.improvement_pct,
    )
    decision.decision = ParamAction.APPLIED
    decision.set_id = stored["id"]
    return decision


def regime_sets(slice_: OptimizationSlice, run: OptimizationRun) -> dict[str, Any] | None:
    """The slice's regime sets (``regime_evaluation``: each one passed the trade minimum and a positive
    expectancy in its own regime) that differ from the applied base set; None when there are none."""
    sets = ((slice_.checks_json or {}).get("regimes") or {}).get("sets") or {}
    base = get_strategy(slice_.strategy).space.validate(run.params)
    different = {label: chosen for label, chosen in sets.items() if chosen["params"] != base}
    return different or None


def set_metrics(candidate: Candidate, *, measured: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a production set keeps of its evidence: in-sample and out-of-sample metrics, the data they used and
    its provenance card as it stood when promoted (``measured``: the run's deflation, when the gate measured it)."""
    slice_, job, run = candidate
    return {
        "provenance": run_card(run, slice_=slice_, job=job, measured=measured),
        "in_sample": run.metrics(),
        "out_of_sample": out_of_sample(slice_),
        "ranking_metric": job.ranking_metric,
        "start_date": job.start_date,
        "end_date": job.end_date,
        "candles_fingerprint": slice_.candles_fingerprint,
        "costs": job.costs,
    }
