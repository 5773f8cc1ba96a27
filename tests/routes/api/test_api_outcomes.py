"""API v1 outcomes and monitor: tracked outcomes filtered and paged, the monitor's state per active set, in the spec."""

from __future__ import annotations

import pytest
import schemathesis
from sqlalchemy import select

from app.models import OptimizationRun, OptimizationSlice, ProductionParameterSet
from app.services.outcomes import monitor
from tests.services.outcomes.test_monitor import _set, alarmed_sets


@pytest.fixture
def spec(app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def ok(spec, response, template):
    assert response.status_code == 200, response.get_data(as_text=True)[:400]
    spec[template]["GET"].validate_response(response)
    return response.get_json()


@pytest.fixture
def alarmed(db, monkeypatch):
    return alarmed_sets(db, monkeypatch, seed=5, trades=(60, 40))


def test_outcomes_filter_and_page(client, spec, api, alarmed):
    free = api.headers("free")
    page = ok(spec, client.get("/api/v1/outcomes?strategy=imbalance&limit=10", headers=free), "/api/v1/outcomes")
    assert page["total"] == 60 and len(page["rows"]) == 10
    assert {row["strategy"] for row in page["rows"]} == {"imbalance"}
    nxt = ok(
        spec, client.get("/api/v1/outcomes?strategy=imbalance&limit=10&offset=10", headers=free), "/api/v1/outcomes"
    )
    assert not {r["id"] for r in nxt["rows"]} & {r["id"] for r in page["rows"]}
    assert ok(spec, client.get("/api/v1/outcomes?state=open", headers=free), "/api/v1/outcomes")["total"] == 0
    assert client.get("/api/v1/outcomes?limit=0", headers=free).status_code == 422


def test_monitor_lists_sets_in_alarm_first_with_the_suggestion(client, spec, api, alarmed):
    first, bad, good = alarmed
    free = api.headers("free")
    sets = ok(spec, client.get("/api/v1/monitor", headers=free), "/api/v1/monitor")["sets"]
    assert [s["set_id"] for s in sets] == [bad["id"], good["id"]]
    assert sets[0]["verdict"] == "alarm" and sets[0]["suggestion"]["to_set_id"] == first["id"]
    only = ok(spec, client.get("/api/v1/monitor?strategy=ema_cross", headers=free), "/api/v1/monitor")["sets"]
    assert [s["set_id"] for s in only] == [good["id"]]


def test_reads_need_a_signed_in_caller(client, api):
    assert client.get("/api/v1/monitor").status_code == 401
    assert client.get("/api/v1/outcomes").status_code == 401


def test_the_expectation_comes_from_the_sets_backtest_stored_or_re_run(db, stored_job):
    slice_ = db.session.scalar(select(OptimizationSlice).where(OptimizationSlice.strategy == "imbalance"))
    runs = list(db.session.scalars(select(OptimizationRun).where(OptimizationRun.slice_id == slice_.id)))
    best = next(r for r in runs if r.id == slice_.best_run_id)
    other = next(r for r in runs if r.id != slice_.best_run_id and not r.results_json and r.total_trades > 0)
    for run, origin in ((best, "stored trades of run"), (other, "backtest re-run on the candles of job")):
        made = _set("imbalance", dict(run.params))
        row = db.session.get(ProductionParameterSet, made["id"])
        row.run_id, row.job_id = run.id, stored_job.id
        db.session.commit()
        sample, note = monitor.backtest_sample(row)
        assert note.startswith(origin)
        assert len(sample) == run.total_trades  # the same backtest the optimizer stored
