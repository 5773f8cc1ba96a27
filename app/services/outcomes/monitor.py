"""Does each active production set still deliver what its backtest promised? (issue 23, over ``decay``).

Per active production set (``parameter_sets``):

- **Live record**: the net R of the set's ``closed`` outcomes
  (``setup_outcomes.parameter_set_id`` = the set's id), in exit order.
- **Expectation** (``expectation_for``): the mean R per trade is the
  walk-forward stitched out-of-sample expectancy when the set's job ran a
  walk-forward with out-of-sample trades (``source`` ``out_of_sample``), else
  the in-sample expectancy of the set's run (``in_sample``). The sd and the
  Monte Carlo band's resampling sample are the backtest's trade R: the stored
  trades of the set's run (``results_json``, kept for a slice's best run),
  else a re-run of ``run_backtest`` with the set's parameters and its job's
  costs on the job's candles (its start to end date). A set without either
  (manual set, no job) has no expectation: verdict ``no_expectation``.
- **Verdict**: ``decay.monitor_set`` per set, then ``decay.judge`` over all
  monitored sets together (Benjamini-Hochberg at ``FDR_Q``).
- **Suggestion** of a set in ``alarm`` (``suggestion_for``): roll back to the
  newest earlier set of the slice with other parameters if the history has
  one; else fall back to the defaults if they differ from the set; else
  re-optimize. Every suggestion carries the verdict's evidence.
- **Auto-rollback** (``apply_rollbacks``): with ``PARAMS_AUTO_ROLLBACK`` on, a
  ``rollback`` suggestion is applied through ``parameter_sets.rollback``
  (logged in the change log); nothing else is ever applied automatically.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from app.core.candles import timeframe_ms
from app.evaluation.backtest import run_backtest
from app.evaluation.monitoring.decay import ALARM, OK, TOO_EARLY, WATCH, Expectation, judge, monitor_set
from app.evaluation.slice_eval import expand_details
from app.extensions import db
from app.models import OptimizationJob, OptimizationRun, ProductionParameterSet, SetupOutcome
from app.services.candles.candle_store import load_candles
from app.services.optimizer.jobs import end_of
from app.services.params import parameter_sets

CLOSED = "closed"
VERDICT_ORDER = {ALARM: 0, WATCH: 1, TOO_EARLY: 2, OK: 3}  # sets in alarm first
MONITOR_ACTOR = "monitor"


def live_r(row: ProductionParameterSet) -> list[float]:
    """Return the net R of a set's live closed outcomes in exit order.

    Live = the setup's detection candle closed after the set was applied. A
    scan after a set change re-detects the whole stored history with the new
    parameters and tracks those setups too, but they are backfill the set was
    chosen on (or could have been), not a record it earned: counting them
    would make a lottery winner look like it delivers.
    """
    published_from = row.applied_at - timedelta(milliseconds=timeframe_ms(row.timeframe))
    rows = db.session.scalars(
        select(SetupOutcome.r_multiple)
        .where(
            SetupOutcome.parameter_set_id == row.id,
            SetupOutcome.state == CLOSED,
            SetupOutcome.detected_at > published_from,
        )
        .order_by(SetupOutcome.exited_at, SetupOutcome.id)
    )
    return [float(r) for r in rows if r is not None]


def _stored_trades(row: ProductionParameterSet) -> list[float] | None:
    run = db.session.get(OptimizationRun, row.run_id) if row.run_id is not None else None
    if run is None or not run.results_json:
        return None
    trades = expand_details(run.results_json).get("trades") or []
    return [float(t["r_multiple"]) for t in trades] or None


def _rerun_trades(row: ProductionParameterSet) -> list[float] | None:
    job = db.session.get(OptimizationJob, row.job_id) if row.job_id is not None else None
    if job is None:
        return None
    candles = load_candles(row.symbol, row.timeframe, start=job.start_date, end=end_of(job.end_date))
    if candles.empty:
        return None
    result = run_backtest(candles, strategy=row.strategy, params=dict(row.params), costs=job.costs)
    return [float(t["r_multiple"]) for t in result["trades"]]


def backtest_sample(row: ProductionParameterSet) -> tuple[list[float] | None, str]:
    """Return the backtest's trade R of a set and where it came from (module docstring)."""
    stored = _stored_trades(row)
    if stored is not None:
        return stored, f"stored trades of run {row.run_id}"
    rerun = _rerun_trades(row)
    if rerun is not None:
        return rerun, f"backtest re-run on the candles of job {row.job_id}"
    return None, "no run trades and no job to re-run"


def expected_mean(metrics: dict[str, Any] | None) -> tuple[float | None, str]:
    """Return (mean R per trade, source): out-of-sample where walk-forward ran with trades, else in-sample."""
    metrics = metrics or {}
    oos = metrics.get("out_of_sample") or {}
    if oos.get("expectancy_r") is not None and (oos.get("total_trades") or oos.get("trades") or 0) > 0:
        return float(oos["expectancy_r"]), "out_of_sample"
    ins = metrics.get("in_sample") or {}
    if ins.get("expectancy_r") is not None:
        return float(ins["expectancy_r"]), "in_sample"
    return None, "in_sample"


def expectation_for(row: ProductionParameterSet) -> tuple[Expectation | None, str]:
    """Return a set's expectation (None when there is no backtest sample) and a note on how it was built."""
    sample, origin = backtest_sample(row)
    if sample is None:
        return None, origin
    mean, source = expected_mean(row.metrics)
    note = f"mean R {source} ({'stored metrics' if mean is not None else 'sample mean'}); sd and band: {origin}"
    return Expectation.from_trades(sample, mean_r=mean, source=source), note


def suggestion_for(row: ProductionParameterSet, *, evidence: list[str]) -> dict[str, Any]:
    """Return what to do about a set in alarm: rollback, default or reoptimize (module docstring)."""
    history = parameter_sets.set_history(symbol=row.symbol, timeframe=row.timeframe, strategy=row.strategy)
    earlier = [s for s in history if s["id"] < row.id and s["params"] != dict(row.params)]
    if earlier:
        target = earlier[0]
        return {"action": "rollback", "to_set_id": target["id"], "params": target["params"], "evidence": evidence}
    defaults = parameter_sets.default_params(row.strategy)
    if defaults != dict(row.params):
        return {"action": "default", "to_set_id": None, "params": defaults, "evidence": evidence}
    return {"action": "reoptimize", "to_set_id": None, "params": None, "evidence": evidence}


def _state(row: ProductionParameterSet, judged: dict[str, Any], note: str) -> dict[str, Any]:
    state = {
        "set_id": row.id,
        "symbol": row.symbol,
        "timeframe": row.timeframe,
        "strategy": row.strategy,
        "params": dict(row.params),
        "expectation_basis": note,
        **judged,
    }
    state["suggestion"] = suggestion_for(row, evidence=judged["evidence"]) if judged["verdict"] == ALARM else None
    return state


def monitor_states(*, symbol: str | None = None, timeframe: str | None = None, strategy: str | None = None):
    """Return the monitor state of every active set (optionally of some slices), sets in alarm first.

    Benjamini-Hochberg runs over the sets returned, so a filter changes the
    family the false-discovery rate is controlled over.
    """
    return [state for state, _ in judged_sets(symbol=symbol, timeframe=timeframe, strategy=strategy)]


def judged_sets(
    *, symbol: str | None = None, timeframe: str | None = None, strategy: str | None = None
) -> list[tuple[dict[str, Any], Expectation | None]]:
    """``monitor_states`` with each state's expectation (the outcomes page draws its band without rebuilding it)."""
    query = select(ProductionParameterSet).where(ProductionParameterSet.is_active.is_(True))
    for column, value in (
        (ProductionParameterSet.symbol, symbol),
        (ProductionParameterSet.timeframe, timeframe),
        (ProductionParameterSet.strategy, strategy),
    ):
        if value is not None:
            query = query.where(column == value)
    rows = list(db.session.scalars(query.order_by(ProductionParameterSet.id)))
    built = [expectation_for(row) for row in rows]
    empty = Expectation.from_trades([])
    monitors = [monitor_set(live_r(row), exp or empty) for row, (exp, _) in zip(rows, built, strict=True)]
    judged = [
        (_state(row, mon.to_dict(), note), exp)
        for row, mon, (exp, note) in zip(rows, judge(monitors), built, strict=True)
    ]
    return sorted(judged, key=lambda pair: (VERDICT_ORDER.get(pair[0]["verdict"], 9), pair[0]["set_id"]))


def auto_rollback_on() -> bool:
    """Whether ``PARAMS_AUTO_ROLLBACK`` is on (off by default)."""
    return bool(current_app.config.get("PARAMS_AUTO_ROLLBACK"))


def apply_rollbacks(states: list[dict[str, Any]], *, actor: str = MONITOR_ACTOR) -> list[dict[str, Any]]:
    """Roll back every alarmed set whose suggestion is a rollback (logged); return the new active sets."""
    applied = []
    for state in states:
        suggestion = state.get("suggestion") or {}
        if suggestion.get("action") != "rollback":
            continue
        applied.append(
            parameter_sets.rollback(
                symbol=state["symbol"],
                timeframe=state["timeframe"],
                strategy=state["strategy"],
                to_set_id=suggestion["to_set_id"],
                actor=actor,
                why="decay monitor alarm: " + "; ".join(suggestion["evidence"]),
            )
        )
    return applied


def run_monitor(*, apply: bool | None = None) -> dict[str, Any]:
    """The monitor's entry point: every state, and the rollbacks applied (``apply`` defaults to the config)."""
    states = monitor_states()
    do_apply = auto_rollback_on() if apply is None else apply
    applied = apply_rollbacks(states) if do_apply else []
    return {"auto_rollback": do_apply, "sets": states, "rolled_back": applied}
