"""Admin optimization pages: jobs (live progress, New job), detail with its runs table, compare, best parameters.

Every view parses its input, calls one service and renders; the services are
the same ones the JSON API and the CLI use. Admins only (``admin_required``).
"""

from __future__ import annotations

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user

from app.errors import ValidationError
from app.forms import ActionForm, NewJobForm
from app.routes import page_args
from app.routes.guards import admin_required, safe_next
from app.services import auto_tuner, charts
from app.services.optimizer import job_list, jobs, pages, results
from app.services.params import parameter_sets
from app.strategies import param_view

bp = Blueprint("optimization", __name__, url_prefix="/admin/optimization")


@bp.get("")
@admin_required
def jobs_page():
    """Jobs newest first with status, live progress, best result, scope and age; filters and pages."""
    status, strategy = request.args.get("status") or None, request.args.get("strategy") or None
    page = job_list.jobs_page(status=status, strategy=strategy, page=page_args.page())
    return render_template("admin/optimization.html", page=page, status=status, strategy=strategy, form=NewJobForm())


@bp.post("")
@admin_required
def create():
    """Create a job from the New job form; errors next to their fields (400), the job list on success."""
    form = NewJobForm()
    if form.validate_on_submit():
        try:
            job = jobs.create_job(**form.job_arguments())
        except ValidationError as exc:
            form.form_errors.append(exc.message)
        else:
            luck = jobs.job_luck(job)["warning"]
            flash(f"job {job.id} created ({job.total_runs} runs): the optimization runner picks it up. Luck: {luck}")
            return redirect(url_for("optimization.jobs_page"))
    page = job_list.jobs_page()
    return render_template("admin/optimization.html", page=page, status=None, strategy=None, form=form), 400


@bp.get("/<int:job_id>/progress.json")
@admin_required
def progress(job_id: int):
    """The small JSON the progress bars poll: status, counts, percent, runs/s, ETA."""
    return jsonify(jobs.job_progress(jobs.get_job(job_id)))


@bp.get("/<int:job_id>")
@admin_required
def detail(job_id: int):
    """Scope, costs, lookahead verdict, the slices table (one line each, with verdicts); the runs table loads beside."""
    page = pages.job_page(job_id, query=page_args.slices_query())
    return render_template("admin/optimization_detail.html", **page, args=request.args, form=ActionForm())


@bp.get("/<int:job_id>/runs")
@admin_required
def runs(job_id: int):
    """One page of the job's runs (an htmx fragment): sorted, filtered, paginated in SQL."""
    query = page_args.runs_query()
    table = results.query_runs(job_id, **query)
    return render_template("admin/_runs_table.html", job_id=job_id, table=table, query=query, args=request.args)


@bp.get("/<int:job_id>/runs.csv")
@admin_required
def runs_csv(job_id: int):
    """The filtered runs as CSV, streamed."""
    query = {k: v for k, v in page_args.runs_query().items() if k not in ("limit", "offset")}
    lines = results.runs_csv(job_id, **query)
    headers = {"Content-Disposition": f"attachment; filename=job-{job_id}-runs.csv"}
    return Response(stream_with_context(lines), mimetype="text/csv", headers=headers)


@bp.get("/runs/<int:run_id>/trades.json")
@admin_required
def trades(run_id: int):
    """A run's trades, equity curve with drawdown and R histogram (recomputed on demand when not stored)."""
    return jsonify(results.run_trades(run_id))


@bp.get("/runs/<int:run_id>/chart.json")
@admin_required
def run_chart(run_id: int):
    """The candlestick chart of a run's market over its trades' range, with the trades as markers."""
    return jsonify(charts.candle_chart(symbol="", timeframe="", run_id=run_id))


@bp.get("/<int:job_id>/slices/<int:slice_id>")
@admin_required
def slice_page(job_id: int, slice_id: int):
    """One slice: its verdict, best and robust runs, charts, Monte Carlo, regimes, walk-forward, selection."""
    return render_template("admin/optimization_slice.html", s=pages.slice_page(job_id, slice_id))


@bp.post("/<int:job_id>/cancel")
@admin_required
def cancel(job_id: int):
    """Cancel a pending or running job; what it stored stays."""
    jobs.cancel_job(job_id)
    flash(f"job {job_id} cancelled: a running job stops at its next slice and keeps what it stored")
    return redirect(safe_next(request.form.get("next")) or url_for("optimization.jobs_page"))


@bp.post("/<int:job_id>/delete")
@admin_required
def delete(job_id: int):
    """Delete a job with its slices and runs."""
    jobs.delete_job(job_id)
    flash(f"job {job_id} deleted with its runs")
    return redirect(url_for("optimization.jobs_page"))


@bp.post("/<int:job_id>/rerun")
@admin_required
def rerun(job_id: int):
    """Create a new pending job with the same scope."""
    job = jobs.rerun_job(job_id)
    flash(f"job {job.id} created as a re-run of job {job_id}: the optimization runner picks it up")
    return redirect(url_for("optimization.jobs_page"))


@bp.get("/compare")
@admin_required
def compare():
    """The heatmap page: job (or newest per slice), slice, X/Y parameters, metric, fold; data from compare.json."""
    return render_template("admin/optimization_compare.html", choices=pages.compare_choices(request.args.to_dict()))


@bp.get("/compare.json")
@admin_required
def compare_json():
    """The heatmap payload and the parameter importance of one slice."""
    query = page_args.compare_query()
    matrix = results.compare_matrix(**query)
    keys = ("job_id", "symbol", "timeframe", "strategy", "metric")
    importance = results.parameter_importance(
        **{k: query[k] for k in keys if k != "job_id"}, job_id=matrix.get("job_id", query["job_id"])
    )
    return jsonify({"matrix": matrix, "importance": importance})


@bp.get("/best")
@admin_required
def best():
    """Best parameters per slice beside the production set, Apply / Rollback, history and dry-run proposals."""
    return render_template(
        "admin/optimization_best.html", page=pages.best_page(**page_args.best_query()), form=ActionForm()
    )


@bp.get("/best/proposals")
@admin_required
def best_proposals():
    """The auto-tuner's dry-run verdicts per slice with reasons (an htmx fragment: it backtests, so it loads late)."""
    return render_template("admin/_proposals.html", proposals=pages.proposals(**page_args.best_query()))


@bp.post("/best/apply")
@admin_required
def apply():
    """Apply one slice's run through the auto-tuner's checks: first a confirmation showing before/after and the
    verdict (nothing written), then, confirmed, the real one (applied, or the reason it refuses)."""
    target, run_id = page_args.slice_form(), page_args.int_field("run_id")
    if request.form.get("confirm") != "1":
        preview = pages.apply_preview(**target, run_id=run_id)
        return render_template("admin/optimization_apply.html", d=preview, run_id=run_id, form=ActionForm())
    for decision in auto_tuner.apply_best_params(**target, run_id=run_id, dry_run=False, actor=current_user.email):
        d = decision.to_dict()
        flash(f"{d['symbol']} {d['timeframe']} {d['strategy']}: {d['decision']} ({d['reason']})")
    return redirect(url_for("optimization.best"))


@bp.post("/best/rollback")
@admin_required
def rollback():
    """Make an earlier production set of one slice active again (logged)."""
    target = page_args.slice_form()
    before = (parameter_sets.active_set(**target) or {}).get("params")
    restored = parameter_sets.rollback(**target, to_set_id=page_args.int_field("to_set_id"), actor=current_user.email)
    change = param_view.diff_text(target["strategy"], before, after=restored["params"])
    slice_label = f"{target['symbol']} {target['timeframe']} {target['strategy']}"
    flash(f"rolled back {slice_label} to set {restored['id']}: {change}")
    return redirect(safe_next(request.form.get("next")) or url_for("optimization.best"))
