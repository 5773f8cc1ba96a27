"""Every page and action for anonymous, free, premium and admin users, on a finished QUICK job."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import OptimizationJob, OptimizationRun, User
from app.services.optimizer import jobs
from app.services.params import parameter_sets, user_parameters
from tests.routes.web.site import END, START, STRATEGIES, SYMBOL, TIMEFRAME, create_quick_job

TIERS = (None, "free", "premium", "admin")


def _best_run(site, strategy="macd") -> int:
    slices = jobs.job_report(site.job_id)["slices"]
    return next(s for s in slices if s["strategy"] == strategy and s["best"])["best"]["run_id"]


def _routes(site) -> dict[str, str]:
    """Every GET route -> its rule: 'public', 'signed_in', 'premium' or 'admin'."""
    job, run = site.job_id, _best_run(site)
    heat = f"/admin/optimization/compare.json?job_id={job}&slice={SYMBOL}|{TIMEFRAME}|macd&x=slow&y=rr_target"
    return {
        "/scripts": "public",
        "/login": "public",
        "/": "signed_in",
        "/profile": "signed_in",
        "/preferences": "premium",
        "/admin/optimization": "admin",
        "/admin/optimization?status=completed&strategy=macd&page=1": "admin",
        f"/admin/optimization/{job}": "admin",
        f"/admin/optimization/{job}/progress.json": "admin",
        f"/admin/optimization/{job}/runs": "admin",
        f"/admin/optimization/{job}/runs.csv": "admin",
        f"/admin/optimization/runs/{run}/trades.json": "admin",
        "/admin/optimization/compare": "admin",
        heat: "admin",
        "/admin/optimization/best": "admin",
        "/admin/optimization/best/proposals": "admin",
        "/admin/patterns/duplicates": "admin",
        f"/admin/patterns/duplicates?market={SYMBOL}|{TIMEFRAME}": "admin",
        "/admin/data": "admin",
        f"/admin/outcomes?slice={SYMBOL}|{TIMEFRAME}|macd": "admin",
        "/admin/outcomes/monitor": "admin",
    }


def _expected(rule: str, tier: str | None) -> int:
    if rule == "public":
        return 200
    if tier is None:
        return 302
    if rule == "premium" and tier == "free":
        return 403
    if rule == "admin" and tier != "admin":
        return 403
    return 200


@pytest.mark.parametrize("tier", TIERS)
def test_every_route_for_every_tier(site, tier):
    client = site.client(tier)
    got = {path: client.get(path).status_code for path in _routes(site)}
    want = {path: _expected(rule, tier) for path, rule in _routes(site).items()}
    assert got == want


def test_jobs_page_shows_status_progress_best_scope_and_the_runner_note(site):
    page = site.client("admin").get("/admin/optimization").get_data(as_text=True)
    assert "quick web job" in page and 'class="badge completed"' in page
    assert f'data-progress-url="/admin/optimization/{site.job_id}/progress.json"' in page
    assert "composite_score" in page and "imbalance, macd" in page
    assert "picks them up" in page and "100.0%" in page


def test_jobs_page_filters(site):
    client = site.client("admin")
    assert "quick web job" not in client.get("/admin/optimization?status=pending").get_data(as_text=True)
    assert "quick web job" not in client.get("/admin/optimization?strategy=ema_cross").get_data(as_text=True)
    assert "quick web job" in client.get("/admin/optimization?strategy=macd").get_data(as_text=True)
    bad = client.get("/admin/optimization?status=bogus")
    assert bad.status_code == 400 and b"status must be one of" in bad.data


def test_progress_json(site):
    body = site.client("admin").get(f"/admin/optimization/{site.job_id}/progress.json").get_json()
    assert body["status"] == "completed" and body["progress_pct"] == 100.0
    assert body["completed_runs"] == body["total_runs"] == 12


def test_detail_page_shows_scope_costs_lookahead_and_slices(site):
    page = site.client("admin").get(f"/admin/optimization/{site.job_id}").get_data(as_text=True)
    assert 'id="scope"' in page and "maker 0.10%" in page
    assert "Lookahead guard" in page and 'id="lookahead"' in page
    assert f"{SYMBOL} {TIMEFRAME} macd" in page and f"{SYMBOL} {TIMEFRAME} imbalance" in page
    assert 'hx-get="/admin/optimization/' in page  # the runs table loads through htmx
    # One line per slice: a verdict badge, a sparkline, a link to the slice's own page; no raw JSON parameters.
    assert page.count('class="badge verdict') == 2 and "<polyline" in page and "/slices/" in page
    assert '{"' not in page.split('id="slices"')[1]


def test_runs_table_sorts_filters_pages_and_exports(site):
    client = site.client("admin")
    base = f"/admin/optimization/{site.job_id}/runs"
    page = client.get(f"{base}?slice={SYMBOL}|{TIMEFRAME}|macd&sort=total_profit_pct&order=asc&per_page=4")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "6 run(s), page 1 of 2" in text and "imbalance" not in text
    assert "Jump to page" in text
    filtered = client.get(f"{base}?params=slow%3D24").get_data(as_text=True)
    assert "3 run(s)" in filtered
    csv = client.get(f"/admin/optimization/{site.job_id}/runs.csv?slice={SYMBOL}|{TIMEFRAME}|macd").get_data(
        as_text=True
    )
    lines = csv.strip().splitlines()
    assert lines[0].startswith("id,symbol,timeframe,strategy") and len(lines) == 7
    bad = client.get(f"{base}?sort=nonsense")
    assert bad.status_code == 400


def test_trades_of_a_run(site):
    body = site.client("admin").get(f"/admin/optimization/runs/{_best_run(site)}/trades.json").get_json()
    assert body["trades"] and body["equity_curve"] and "r_histogram" in body and "drawdown" in body


def test_compare_payload_marks_the_best_cell(site):
    client = site.client("admin")
    url = f"/admin/optimization/compare.json?job_id={site.job_id}&slice={SYMBOL}|{TIMEFRAME}|macd&x=slow&y=rr_target"
    body = client.get(url + "&min_trades=0").get_json()
    matrix = body["matrix"]
    assert matrix["x_values"] == [24, 26] and matrix["y_values"] == [1.5, 2.0, 3.0]
    values = [c["value"] for row in matrix["cells"] for c in row]
    assert matrix["best"]["value"] == max(v for v in values if v is not None)
    assert {p["parameter"] for p in body["importance"]["parameters"]} == {"slow", "rr_target"}
    page = client.get(f"/admin/optimization/compare?job_id={site.job_id}&slice={SYMBOL}|{TIMEFRAME}|macd")
    assert page.status_code == 200 and b'id="heatmap"' in page.data and b"echarts.min.js" in page.data
    same = client.get(url.replace("y=rr_target", "y=slow"))
    assert same.status_code == 400 and "different" in same.get_json()["error"]["message"]
    pooled = client.get(url.replace(f"{SYMBOL}|{TIMEFRAME}|", "*|*|") + "&min_trades=0").get_json()["matrix"]
    assert pooled["symbol"] is None and pooled["slices"] >= 1 and pooled["x_values"] == [24, 26]
    page = client.get(f"/admin/optimization/compare?job_id={site.job_id}")
    assert b"all slices of macd" in page.data  # the pooled choice is offered per strategy


@pytest.mark.parametrize(
    "path",
    [
        "/admin/optimization/999999",
        "/admin/optimization/999999/progress.json",
        "/admin/optimization/999999/runs",
        "/admin/optimization/runs/999999/trades.json",
        f"/admin/optimization/compare.json?job_id=999999&slice={SYMBOL}|{TIMEFRAME}|macd&x=slow&y=rr_target",
    ],
)
def test_unknown_ids_are_404(site, path):
    assert site.client("admin").get(path).status_code == 404


@pytest.mark.parametrize("path", ["/admin/optimization/999999/cancel", "/admin/optimization/999999/delete"])
def test_actions_on_unknown_jobs_are_404(site, path):
    assert site.client("admin").post(path).status_code == 404


def _form(**overrides):
    data = {
        "name": "from the form",
        "symbols": [SYMBOL],
        "timeframes": [TIMEFRAME],
        "strategies": STRATEGIES,
        "preset": "quick",
        "grid": "",
        "start_date": START,
        "end_date": END,
        "costs": "binance_spot",
        "validation": "none",
        "monte_carlo": "y",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required"),
        ({"symbols": None}, "symbols", "choose at least one"),
        ({"symbols": ["DOGE/USDT"]}, "symbols", "not a valid choice"),
        ({"strategies": ["nope"]}, "strategies", "not a valid choice"),
        ({"grid": "{not json"}, "grid", "not JSON"),
        ({"grid": '{"macd": {"slow": [1]}}'}, "grid", "grid for macd"),
        ({"grid": '{"macd": {"wobble": [1]}}'}, "grid", "wobble"),
        ({"start_date": "yesterday"}, "start_date", "Not a valid date"),
        ({"end_date": "2020-01-01"}, "end_date", "end must not be before start"),
    ],
)
def test_new_job_errors_show_next_to_their_field(site, overrides, field, message):
    before = db.session.scalar(select(func.count()).select_from(OptimizationJob))
    response = site.client("admin").post("/admin/optimization", data=_form(**overrides))
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f'id="error-{field}">' in text and message in text.split(f'id="error-{field}">')[1].split("</span>")[0]
    assert db.session.scalar(select(func.count()).select_from(OptimizationJob)) == before


def test_new_job_cross_field_errors_show_above_the_form(site):
    response = site.client("admin").post("/admin/optimization", data=_form(timeframes=["4h"]))
    assert response.status_code == 400 and b'id="form-error"' in response.data and b"no candles" in response.data


def test_new_job_is_created_pending_for_the_runner(site):
    client = site.client("admin")
    response = client.post("/admin/optimization", data=_form(name="made in the browser form"))
    assert response.status_code == 302
    job = db.session.scalar(select(OptimizationJob).where(OptimizationJob.name == "made in the browser form"))
    assert job.status == "pending" and job.total_runs == 12 and job.strategies == STRATEGIES
    page = client.get("/admin/optimization")
    assert b"the optimization runner picks it up" in page.data
    jobs.cancel_job(job.id)


def test_cancel_delete_and_rerun(site):
    client = site.client("admin")
    job = create_quick_job(name="to cancel")
    refused = client.post(f"/admin/optimization/{job.id}/delete")
    assert refused.status_code == 409 and db.session.get(OptimizationJob, job.id) is not None
    assert client.post(f"/admin/optimization/{job.id}/cancel").status_code == 302
    db.session.expire_all()
    assert db.session.get(OptimizationJob, job.id).status == "cancelled"
    assert client.post(f"/admin/optimization/{job.id}/cancel").status_code == 409  # already cancelled

    assert client.post(f"/admin/optimization/{site.job_id}/rerun").status_code == 302
    copy = db.session.scalar(select(OptimizationJob).order_by(OptimizationJob.id.desc()).limit(1))
    original = db.session.get(OptimizationJob, site.job_id)
    assert copy.name == "quick web job (re-run)" and copy.status == "pending"
    assert (copy.symbols, copy.timeframes, copy.strategies, copy.parameter_grids) == (
        original.symbols,
        original.timeframes,
        original.strategies,
        original.parameter_grids,
    )
    jobs.cancel_job(copy.id)
    assert client.post(f"/admin/optimization/{copy.id}/delete").status_code == 302
    assert client.post(f"/admin/optimization/{job.id}/delete").status_code == 302
    db.session.expire_all()
    assert db.session.get(OptimizationJob, copy.id) is None and db.session.get(OptimizationJob, job.id) is None


def test_delete_takes_the_runs_with_it(site):
    from app.services.optimizer.runner import JobRunner

    job = create_quick_job(name="to delete", strategies=["macd"])
    JobRunner(workers=1).run(job.id)
    count = select(func.count()).select_from(OptimizationRun).where(OptimizationRun.job_id == job.id)
    assert db.session.scalar(count) == 6
    assert site.client("admin").post(f"/admin/optimization/{job.id}/delete").status_code == 302
    assert db.session.scalar(count) == 0


def test_apply_confirms_first_then_changes_production_and_rollback_restores(site):
    client = site.client("admin")
    market = {"symbol": SYMBOL, "timeframe": TIMEFRAME, "strategy": "macd"}
    proposals = client.get("/admin/optimization/best/proposals").get_data(as_text=True)
    assert "macd" in proposals and "imbalance" in proposals
    run_id = _best_run(site)
    before = parameter_sets.active_set(**market)
    preview = client.post("/admin/optimization/best/apply", data={**market, "run_id": run_id})
    assert preview.status_code == 200 and b'id="apply-decision"' in preview.data
    assert parameter_sets.active_set(**market) == before  # the confirmation writes nothing
    if b"confirm-apply" not in preview.data:
        pytest.skip("the auto-tuner refuses this run on this data: " + preview.get_data(as_text=True)[:200])
    assert (
        client.post("/admin/optimization/best/apply", data={**market, "run_id": run_id, "confirm": "1"}).status_code
        == 302
    )
    applied = parameter_sets.active_set(**market)
    assert applied is not None and applied["run_id"] == run_id and applied["applied_by"] == "admin@example.com"
    page = client.get("/admin/optimization/best").get_data(as_text=True)
    assert "Rollback" in page or before is None
    if before is not None:
        client.post("/admin/optimization/best/rollback", data={**market, "to_set_id": before["id"]})
        assert parameter_sets.active_set(**market)["params"] == before["params"]


def test_rollback_to_an_earlier_set(site):
    client = site.client("admin")
    market = {"symbol": SYMBOL, "timeframe": TIMEFRAME, "strategy": "imbalance"}
    first = parameter_sets.apply_set(**market, params={"rr_target": 2.0}, source="manual", actor="test", reason="test")
    parameter_sets.apply_set(**market, params={"rr_target": 3.0}, source="manual", actor="test", reason="test")
    assert parameter_sets.active_set(**market)["params"]["rr_target"] == 3.0
    page = client.get("/admin/optimization/best").get_data(as_text=True)
    assert "Rollback to this" in page
    assert f'href="/admin/outcomes?slice={SYMBOL}%7C{TIMEFRAME}%7Cimbalance"' in page
    response = client.post("/admin/optimization/best/rollback", data={**market, "to_set_id": first["id"]})
    assert response.status_code == 302
    assert parameter_sets.active_set(**market)["params"]["rr_target"] == 2.0
    assert "rr_target 3.0 -&gt; 2.0" in client.get("/admin/optimization/best").get_data(as_text=True)  # the flash
    missing = client.post("/admin/optimization/best/rollback", data={**market, "to_set_id": 999999})
    assert missing.status_code == 404


def test_best_page_lists_best_params_beside_production(site):
    page = site.client("admin").get("/admin/optimization/best").get_data(as_text=True)
    assert 'id="best"' in page and "macd" in page and "Apply" in page and "Change history" in page


def test_dashboard_for_free_and_premium(site):
    free = site.client("free").get("/").get_data(as_text=True)
    assert "Active patterns" in free and 'id="patterns"' in free and 'id="signals"' in free
    assert 'id="upgrade-message"' in free and "disabled" in free and 'action="/preferences/copy"' not in free
    premium = site.client("premium").get("/").get_data(as_text=True)
    assert 'action="/preferences/copy"' in premium and 'id="upgrade-message"' not in premium


def test_premium_copy_then_clear(site):
    client = site.client("premium")
    run_id = _best_run(site, "imbalance")
    assert client.post("/preferences/copy", data={"run_id": run_id, "next": "/"}).status_code == 302
    user = db.session.scalar(select(User).where(User.email == "premium@example.com"))
    sets = user_parameters.list_sets(user)
    assert [(s["symbol"], s["strategy"], s["use_custom"]) for s in sets] == [(SYMBOL, "imbalance", True)]
    page = client.get("/preferences").get_data(as_text=True)
    assert f"job:{site.job_id}/run:{run_id}" in page and "user" in page
    assert client.post("/preferences/clear", data={"symbol": SYMBOL, "strategy": "imbalance"}).status_code == 302
    assert user_parameters.list_sets(user)[0]["use_custom"] is False
    assert client.post("/preferences/copy", data={"run_id": 999999}).status_code == 404


def test_free_user_cannot_copy(site):
    response = site.client("free").post("/preferences/copy", data={"run_id": _best_run(site)})
    assert response.status_code == 403 and b"upgrade" in response.data


def test_duplicates_page_and_filter_effect(site):
    client = site.client("admin")
    page = client.get("/admin/patterns/duplicates?threshold=0.5").get_data(as_text=True)
    assert 'id="duplicates"' in page and SYMBOL in page
    effect = client.get(f"/admin/patterns/duplicates?market={SYMBOL}|{TIMEFRAME}").get_data(as_text=True)
    assert 'id="filter-effect"' in effect and "Removed" in effect
    assert client.get("/admin/patterns/duplicates?threshold=2").status_code == 400


def test_data_page_has_the_coverage(site):
    page = site.client("admin").get("/admin/data").get_data(as_text=True)
    assert SYMBOL in page and "1825" in page
