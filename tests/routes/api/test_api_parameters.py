"""API v1 parameter endpoints: what the caller trades, production sets, auto-tuner, premium preferences, tiers."""

from __future__ import annotations

import pytest
import schemathesis
from sqlalchemy import select

from app.models import OptimizationSlice
from app.services.params import parameter_sets

SLICE = "symbol=BTC/USDT&timeframe=1d&strategy=imbalance"
BODY = {"symbol": "BTC/USDT", "timeframe": "1d", "strategy": "imbalance"}


@pytest.fixture
def spec(app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def ok(spec, response, template, method="GET", status=200):
    assert response.status_code == status, response.get_data(as_text=True)[:400]
    if status != 204:
        spec[template][method].validate_response(response)
    return response.get_json()


def test_reads_for_every_signed_in_caller(client, spec, api, stored_job):
    free = api.headers("free")
    resolved = ok(spec, client.get(f"/api/v1/parameters?{SLICE}", headers=free), "/api/v1/parameters")
    assert resolved["source"] == "default" and resolved["symbol"] == "BTC/USDT" and resolved["params"]
    base = ok(spec, client.get(f"/api/v1/parameters?{SLICE}&regime=base", headers=free), "/api/v1/parameters")
    assert base["regime"] is None
    assert ok(spec, client.get(f"/api/v1/production?{SLICE}", headers=free), "/api/v1/production") == {"active": None}
    assert ok(spec, client.get(f"/api/v1/production/history?{SLICE}", headers=free), "/api/v1/production/history") == {
        "history": []
    }
    ok(spec, client.get("/api/v1/production/changes?limit=5", headers=free), "/api/v1/production/changes")
    ok(spec, client.get(f"/api/v1/parameters/suggestion?{SLICE}", headers=free), "/api/v1/parameters/suggestion")
    ok(spec, client.get("/api/v1/market-context?symbol=BTC/USDT&timeframe=1d", headers=free), "/api/v1/market-context")
    assert ok(spec, client.get("/api/v1/status", headers=free), "/api/v1/status")["optimized"] == 2
    assert client.get(f"/api/v1/parameters?{SLICE}").status_code == 401
    unknown = client.get("/api/v1/parameters?symbol=BTC/USDT&timeframe=1d&strategy=moon", headers=free)
    assert unknown.status_code == 400 and unknown.get_json()["error"]["code"] == "validation_error"


def test_admin_applies_dry_runs_and_rolls_back(client, db, spec, api, stored_job):
    admin = api.headers("admin")
    dry = ok(spec, client.post("/api/v1/autotune/dry-run", json={}, headers=admin), "/api/v1/autotune/dry-run", "POST")
    assert {d["decision"] for d in dry["decisions"]} <= {"proposed", "skipped"} and dry["decisions"]
    assert ok(spec, client.get(f"/api/v1/production?{SLICE}", headers=admin), "/api/v1/production")["active"] is None
    best = db.session.scalar(
        select(OptimizationSlice.best_run_id).where(
            OptimizationSlice.job_id == stored_job.id, OptimizationSlice.strategy == "imbalance"
        )
    )
    applied = ok(
        spec,
        client.post("/api/v1/production/apply", json={"run_id": best, "min_improvement_pct": 0}, headers=admin),
        "/api/v1/production/apply",
        "POST",
    )
    assert len(applied["decisions"]) == 1
    first = parameter_sets.apply_set(**BODY, params={}, source="manual", actor="t", reason="defaults")
    parameter_sets.apply_set(**BODY, params={"rr_target": 3.0}, source="manual", actor="t", reason="r3")
    back = ok(
        spec,
        client.post("/api/v1/production/rollback", json={**BODY, "to_set_id": first["id"]}, headers=admin),
        "/api/v1/production/rollback",
        "POST",
    )
    assert back["params"] == first["params"] and back["is_active"]
    missing = client.post("/api/v1/production/rollback", json={**BODY, "to_set_id": 999}, headers=admin)
    assert missing.status_code == 404
    for tier in ("free", "premium"):
        for url, body in (
            ("/api/v1/production/apply", {"run_id": best}),
            ("/api/v1/production/rollback", {**BODY, "to_set_id": first["id"]}),
            ("/api/v1/autotune/dry-run", {}),
        ):
            assert client.post(url, json=body, headers=api.headers(tier)).status_code == 403


def test_preferences_are_premium_and_private(client, db, spec, api, stored_job):
    premium, free, admin = api.headers("premium"), api.headers("free"), api.headers("admin")
    body = {"symbol": "BTC/USDT", "strategy": "imbalance", "params": {"rr_target": 3.0}}
    refused = client.put("/api/v1/preferences", json=body, headers=free)
    assert refused.status_code == 403 and "premium" in refused.get_json()["error"]["message"]
    saved = ok(spec, client.put("/api/v1/preferences", json=body, headers=premium), "/api/v1/preferences", "PUT")
    assert saved["params"]["rr_target"] == 3.0 and saved["use_custom"]
    mine = ok(spec, client.get(f"/api/v1/parameters?{SLICE}", headers=premium), "/api/v1/parameters")
    assert mine["source"] == "user" and mine["params"]["rr_target"] == 3.0
    # Another user sees neither the set nor its effect.
    assert ok(spec, client.get("/api/v1/preferences", headers=admin), "/api/v1/preferences") == {"sets": []}
    assert client.get(f"/api/v1/parameters?{SLICE}", headers=admin).get_json()["source"] == "default"
    assert client.get(f"/api/v1/parameters?{SLICE}", headers=free).get_json()["source"] == "default"
    bad = client.put("/api/v1/preferences", json={**body, "params": {"rr_target": "moon"}}, headers=premium)
    assert bad.status_code == 400
    run_id = db.session.scalar(
        select(OptimizationSlice.best_run_id).where(OptimizationSlice.job_id == stored_job.id).limit(1)
    )
    copied = client.post("/api/v1/preferences/copy-run", json={"run_id": run_id}, headers=premium)
    ok(spec, copied, "/api/v1/preferences/copy-run", "POST")
    assert client.post("/api/v1/preferences/copy-run", json={"run_id": run_id}, headers=free).status_code == 403
    assert client.post("/api/v1/preferences/copy-run", json={"run_id": 10**9}, headers=premium).status_code == 404
    production = client.post("/api/v1/preferences/copy-production", json=BODY, headers=premium)
    assert ok(spec, production, "/api/v1/preferences/copy-production", "POST")["params_source"].startswith("production")
    cleared = client.delete("/api/v1/preferences?symbol=BTC/USDT&strategy=imbalance", headers=premium)
    assert cleared.status_code == 204
    assert client.get(f"/api/v1/parameters?{SLICE}", headers=premium).get_json()["source"] == "default"
    assert client.delete("/api/v1/preferences?symbol=BTC/USDT&strategy=macd", headers=premium).status_code == 404
