"""Provenance cards: where a parameter set came from and whether it beat the luck of its trials.

One card per set, the same keys wherever a set is shown (production sets,
premium copies, ``GET /api/v1/parameters``, the best-parameters page):

- ``job_id``, ``job_name``, ``run_id``: the job and run that produced it;
- ``data_start``, ``data_end``: the candles it was chosen on;
- ``trials``: ``raw`` (the cumulative count of the trial ledger: every set any
  job tried on that symbol, timeframe and strategy), ``effective`` (after
  clustering) and ``job`` (this job's);
- ``dsr``, ``psr``: of the set's daily returns (None when not measured);
  ``pbo``: of the slice;
- ``walk_forward``: the slice's stitched out-of-sample result (None: no
  walk-forward ran);
- ``luck``: the gate's refusal (``selection.gate.luck_refusal``) at the
  current settings, e.g. ``luck: DSR 0.41 < 0.95 over 1,010 trials, effective
  84``; None when it beats luck.

A production set keeps the card of the moment it was promoted (its evidence
then); a card for a run is built from its slice's stored statistics.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from app.evaluation.selection.gate import luck_refusal
from app.extensions import db
from app.models import OptimizationJob, OptimizationRun, OptimizationSlice, ProductionParameterSet


def run_card(
    run: OptimizationRun, *, slice_: OptimizationSlice, job: OptimizationJob, measured: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The card of ``run``; ``measured``: its deflation when the caller measured it (a run neither the slice's
    best nor its robust best has none stored)."""
    checks = slice_.checks_json or {}
    selection = checks.get("selection") or {}
    chosen = {slice_.robust_run_id: "robust", slice_.best_run_id: "best"}.get(run.id)
    stats = measured or selection.get(chosen) or {}
    if measured is not None:
        selection, chosen = {**selection, "candidate": measured}, "candidate"
    trials = selection.get("trials") or {}
    walk = checks.get("walk_forward")
    return {
        "job_id": job.id,
        "job_name": job.name,
        "run_id": run.id,
        "data_start": job.start_date,
        "data_end": job.end_date,
        "trials": {
            "raw": trials.get("cumulative", slice_.run_count),
            "effective": trials.get("effective_cumulative"),
            "job": trials.get("job", slice_.run_count),
        },
        "dsr": stats.get("dsr"),
        "psr": stats.get("psr"),
        "pbo": (selection.get("pbo") or {}).get("pbo"),
        "walk_forward": _walk_forward(walk),
        "luck": luck_refusal(
            selection,
            chosen=chosen,
            min_dsr=current_app.config["AUTOTUNE_MIN_DSR"],
            max_pbo=current_app.config["AUTOTUNE_MAX_PBO"],
        ),
    }


def card_of_run_id(run_id: int | None) -> dict[str, Any] | None:
    """The card of a stored run, or None when the run is gone (pruned, its job deleted)."""
    run = db.session.get(OptimizationRun, run_id) if run_id else None
    if run is None:
        return None
    return run_card(run, slice_=run.slice, job=db.session.get(OptimizationJob, run.job_id))


def source_provenance(source: str | None) -> dict[str, Any] | None:
    """The card of a premium copy, from where it was copied (``user_parameters``' ``params_source``):
    ``job:J/run:R`` is run R's; ``production:set:S/TF`` is production set S's; a manual set has none."""
    source = source or ""
    if source.startswith("job:") and "/run:" in source:
        return card_of_run_id(_int(source.split("/run:", 1)[1]))
    if source.startswith("production:set:"):
        set_id = _int(source.removeprefix("production:set:").split("/", 1)[0])
        row = db.session.get(ProductionParameterSet, set_id) if set_id else None
        return set_card(row) if row else None
    return None


def set_card(row: ProductionParameterSet) -> dict[str, Any] | None:
    """A production set's card: kept from its promotion, else (a set from before cards) its run's now;
    None for a manual set or a run since pruned."""
    return (row.metrics or {}).get("provenance") or card_of_run_id(row.run_id)


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _walk_forward(walk: dict[str, Any] | None) -> dict[str, Any] | None:
    if not walk:
        return None
    oos = walk["summary"]["out_of_sample"]
    return {key: oos.get(key) for key in ("expectancy_r", "total_trades", "total_profit_pct")}
