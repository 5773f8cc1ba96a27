"""JSON API v1: every endpoint's 2xx answer validates against the generated spec; tiers, tokens, sessions, CSRF,
rate limits, ETags and the one error shape."""

from __future__ import annotations

import time

import pytest
import schemathesis
from sqlalchemy import select

from app.enums import JobStatus
from app.models import OptimizationRun, OptimizationSlice
from app.services.accounts import api_tokens
from app.services.optimizer import jobs

MATRIX = "symbol=BTC/USDT&timeframe=1d&strategy=imbalance&x=rr_target&y=tp_method"


@pytest.fixture
def spec(app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def call(client, spec, method, template, *, headers=None, query="", json=None, **path):
    """Call ``template`` (an OpenAPI path) and, when the answer is 2xx, validate it against the spec."""
    url = template.format(**path) + (f"?{query}" if query else "")
    response = client.open(url, method=method, headers=headers or {}, json=json)
    if 200 <= response.status_code < 300:
        spec[template][method].validate_response(response)
    return response


def _ids(db, job_id):
    run_id = db.session.scalar(select(OptimizationRun.id).where(OptimizationRun.job_id == job_id).limit(1))
    best = db.session.scalar(select(OptimizationSlice.best_run_id).where(OptimizationSlice.job_id == job_id).limit(1))
    return run_id, best


# ---------------------------------------------------------------------- contract: every endpoint, 2xx in the spec


def test_spec_lists_every_endpoint_and_the_error_shape(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    paths = set(spec["paths"])
    assert {
        "/api/v1/health",
        "/api/v1/strategies",
        "/api/v1/strategies/{name}",
        "/api/v1/candles/coverage",
        "/api/v1/patterns",
        "/api/v1/signals",
        "/api/v1/jobs",
        "/api/v1/jobs/{job_id}",
        "/api/v1/jobs/{job_id}/report",
        "/api/v1/jobs/{job_id}/cancel",
        "/api/v1/jobs/{job_id}/rerun",
        "/api/v1/jobs/{job_id}/runs",
        "/api/v1/jobs/{job_id}/runs.csv",
        "/api/v1/runs/{run_id}/trades",
        "/api/v1/matrix",
        "/api/v1/importance",
        "/api/v1/best-parameters",
        "/api/v1/outcomes",
        "/api/v1/monitor",
        "/api/v1/tokens",
        "/api/v1/tokens/{token_id}",
        "/api/v1/scripts/search",
        "/api/v1/scripts/stats",
        "/api/v1/scripts/{slug}",
    } <= paths
    jobs_get = spec["paths"]["/api/v1/jobs"]["get"]
    assert jobs_get["responses"]["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert jobs_get["security"] == [{"BearerAuth": []}, {"SessionCookie": []}]
    assert spec["paths"]["/api/v1/health"]["get"]["security"] == []


def test_docs_page_uses_only_vendored_assets(client):
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page
    assert "cdn." not in page and "https://" not in page.split("<body>")[0]
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200


def test_read_endpoints_answer_in_the_spec(client, db, spec, api, stored_job):
    free = api.headers("free")
    job_id = stored_job.id
    run_id, best_id = _ids(db, job_id)
    reads = [
        ("/api/v1/strategies", {}, ""),
        ("/api/v1/strategies/{name}", {"name": "macd"}, ""),
        ("/api/v1/candles/coverage", {}, ""),
        ("/api/v1/patterns", {}, "symbol=BTC/USDT&limit=5"),
        ("/api/v1/signals", {}, "strategy=macd"),
        ("/api/v1/jobs", {}, "limit=5"),
        ("/api/v1/jobs/{job_id}", {"job_id": job_id}, ""),
        ("/api/v1/jobs/{job_id}/report", {"job_id": job_id}, ""),
        ("/api/v1/jobs/{job_id}/runs", {"job_id": job_id}, "strategy=imbalance&sort=sharpe_ratio&order=asc&limit=3"),
        ("/api/v1/jobs/{job_id}/runs", {"job_id": job_id}, 'params={"rr_target":2.5}&fields=total_trades,win_rate'),
        ("/api/v1/runs/{run_id}/trades", {"run_id": run_id}, ""),
        ("/api/v1/runs/{run_id}/trades", {"run_id": best_id}, ""),
        ("/api/v1/matrix", {}, MATRIX + "&fold=mean&min_trades=0"),
        ("/api/v1/importance", {}, "symbol=BTC/USDT&timeframe=1d&strategy=macd&metric=win_rate"),
        ("/api/v1/best-parameters", {}, "min_trades=0&robust=true"),
        ("/api/v1/tokens", {}, ""),
        ("/api/v1/health", {}, ""),
    ]
    for template, path, query in reads:
        response = call(client, spec, "GET", template, headers=free, query=query, **path)
        assert response.status_code in (200, 503) if template.endswith("health") else response.status_code == 200, (
            template,
            response.get_json(),
        )
    assert call(client, spec, "GET", "/api/v1/patterns", headers=free).get_json()["rows"][0]["strategy"] == "imbalance"
    page = call(client, spec, "GET", "/api/v1/jobs/{job_id}/runs", headers=free, job_id=job_id, query="limit=5")
    body = page.get_json()
    assert body["total"] == 14 and len(body["rows"]) == 5 and body["next_cursor"]
    nxt = call(
        client,
        spec,
        "GET",
        "/api/v1/jobs/{job_id}/runs",
        headers=free,
        job_id=job_id,
        query=f"limit=5&cursor={body['next_cursor']}",
    )
    assert not {r["id"] for r in body["rows"]} & {r["id"] for r in nxt.get_json()["rows"]}
    csv = client.get(f"/api/v1/jobs/{job_id}/runs.csv?strategy=macd", headers=free)
    assert csv.status_code == 200 and csv.mimetype == "text/csv" and len(csv.get_data(as_text=True).splitlines()) == 7


def test_admin_manages_jobs(client, db, spec, api, stored_job):
    admin = api.headers("admin")
    created = call(
        client,
        spec,
        "POST",
        "/api/v1/jobs",
        headers=admin,
        json={
            "name": "api made",
            "symbols": ["BTC/USDT"],
            "timeframes": ["1d"],
            "strategies": ["macd"],
            "grids": "quick",
        },
    )
    assert created.status_code == 201 and created.get_json()["status"] == "pending"
    luck = created.get_json()["luck"]  # the pre-flight warning: the quick grid's 6 trials per slice
    assert luck["trials"] == 6 and luck["warning"].startswith("6 trials over") and luck["expected_max_sharpe"] > 0
    new_id = created.get_json()["id"]
    cancelled = call(client, spec, "POST", "/api/v1/jobs/{job_id}/cancel", headers=admin, job_id=new_id)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == JobStatus.CANCELLED
    again = call(client, spec, "POST", "/api/v1/jobs/{job_id}/cancel", headers=admin, job_id=new_id)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "conflict"
    rerun = call(client, spec, "POST", "/api/v1/jobs/{job_id}/rerun", headers=admin, job_id=stored_job.id)
    assert rerun.status_code == 201 and rerun.get_json()["progress"]["total_runs"] == stored_job.total_runs
    deleted = call(client, spec, "DELETE", "/api/v1/jobs/{job_id}", headers=admin, job_id=stored_job.id)
    assert deleted.status_code == 204
    assert client.get(f"/api/v1/jobs/{stored_job.id}", headers=admin).status_code == 404
    live = call(client, spec, "DELETE", "/api/v1/jobs/{job_id}", headers=admin, job_id=rerun.get_json()["id"])
    assert live.status_code == 409


# ---------------------------------------------------------------------- tiers, tokens, sessions


@pytest.mark.parametrize(
    "method, url, body",
    [
        ("POST", "/api/v1/jobs", {"name": "x"}),
        ("POST", "/api/v1/jobs/{job}/cancel", None),
        ("POST", "/api/v1/jobs/{job}/rerun", None),
        ("DELETE", "/api/v1/jobs/{job}", None),
    ],
)
def test_admin_actions_are_refused_to_free_and_premium(client, api, stored_job, method, url, body):
    for tier in ("free", "premium"):
        response = client.open(url.format(job=stored_job.id), method=method, headers=api.headers(tier), json=body)
        assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"
    assert jobs.get_job(stored_job.id).status == JobStatus.COMPLETED


def test_anonymous_and_bad_tokens_get_401(client, api):
    anonymous = client.get("/api/v1/jobs")
    assert anonymous.status_code == 401 and anonymous.get_json()["error"]["code"] == "unauthorized"
    assert anonymous.headers["WWW-Authenticate"].lower().startswith("bearer")
    for header in ("Bearer cl_forged", "Bearer " + "x" * 5000, "Basic abc", "Bearer"):
        assert client.get("/api/v1/jobs", headers={"Authorization": header}).status_code == 401
    assert client.get("/api/v1/scripts/stats").status_code == 200  # the catalogue stays public


def test_revoked_token_stops_working_and_last_used_is_noted(client, db, api):
    headers = api.headers("premium")
    assert client.get("/api/v1/jobs", headers=headers).status_code == 200
    row = api_tokens.list_tokens(api.users["premium"])[0]
    assert row.last_used_at is not None
    listed = client.get("/api/v1/tokens", headers=headers).get_json()["tokens"]
    assert [t["id"] for t in listed] == [row.id] and "token" not in listed[0] and "token_hash" not in listed[0]
    assert client.delete(f"/api/v1/tokens/{row.id}", headers=headers).get_json()["revoked_at"]
    revoked = client.get("/api/v1/jobs", headers=headers)
    assert revoked.status_code == 401 and "revoked" in revoked.get_json()["error"]["message"]


def test_tokens_are_per_user(client, api):
    mine = client.post("/api/v1/tokens", headers=api.headers("free"), json={"name": "notebook"})
    assert mine.status_code == 201 and mine.get_json()["token"].startswith("cl_")
    token_id = mine.get_json()["id"]
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=api.headers("admin")).status_code == 404
    fresh = {"Authorization": f"Bearer {mine.get_json()['token']}"}
    assert client.get("/api/v1/tokens", headers=fresh).status_code == 200


def _sign_in(client, user):
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True


def test_session_reads_work_and_writes_need_csrf_and_same_origin(app, client, api, stored_job):
    _sign_in(client, api.users["admin"])
    assert client.get("/api/v1/jobs").status_code == 200
    app.config["WTF_CSRF_ENABLED"] = True
    refused = client.post(f"/api/v1/jobs/{stored_job.id}/rerun")
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "bad_request"
    with client.session_transaction() as session:
        from flask_wtf.csrf import generate_csrf

        with app.test_request_context():
            from flask import session as request_session

            token = generate_csrf()
            session.update(request_session)
    cross = client.post(
        f"/api/v1/jobs/{stored_job.id}/rerun", headers={"X-CSRFToken": token, "Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    ok = client.post(
        f"/api/v1/jobs/{stored_job.id}/rerun", headers={"X-CSRFToken": token, "Origin": "http://localhost"}
    )
    assert ok.status_code == 201
    # A token call needs no CSRF token, even with CSRF on.
    assert client.post(f"/api/v1/jobs/{stored_job.id}/rerun", headers=api.headers("admin")).status_code == 201


def test_an_expired_session_is_anonymous(app, client, api):
    serializer = app.session_interface.get_signing_serializer(app)
    old = serializer.dumps({"_user_id": str(api.users["free"].id), "_fresh": True})
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], old)
    assert client.get("/api/v1/jobs").status_code == 200
    app.permanent_session_lifetime = 1  # seconds: the signed cookie carries its time
    time.sleep(2.1)
    assert client.get("/api/v1/jobs").status_code == 401


def test_a_bad_token_wins_over_a_session(client, api):
    _sign_in(client, api.users["admin"])
    assert client.get("/api/v1/jobs", headers={"Authorization": "Bearer cl_nope"}).status_code == 401


# ---------------------------------------------------------------------- limits, ETags, errors


def test_rate_limit_per_token_and_tier_with_headers(app, client, api):
    app.config["API_RATE_LIMITS"] = {
        "anonymous": "2/minute",
        "free": "3/minute",
        "premium": "5/minute",
        "admin": "50/minute",
    }
    free = api.headers("free")
    answers = [client.get("/api/v1/strategies", headers=free) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["X-RateLimit-Limit"] == "3" and answers[1].headers["X-RateLimit-Remaining"] == "1"
    assert answers[3].get_json()["error"]["code"] == "too_many_requests" and "Retry-After" in answers[3].headers
    # Another token of the same tier has its own budget; premium a larger one.
    other = api_tokens.create_token(api.users["free"], name="second")[1]
    assert client.get("/api/v1/strategies", headers={"Authorization": f"Bearer {other}"}).status_code == 200
    assert [client.get("/api/v1/strategies", headers=api.headers("premium")).status_code for _ in range(5)] == [200] * 5


def test_etag_gives_304(client, api, stored_job):
    headers = api.headers("free")
    first = client.get(f"/api/v1/jobs/{stored_job.id}/runs", headers=headers)
    etag = first.headers["ETag"]
    again = client.get(f"/api/v1/jobs/{stored_job.id}/runs", headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    other = client.get(f"/api/v1/jobs/{stored_job.id}/runs?limit=2", headers={**headers, "If-None-Match": etag})
    assert other.status_code == 200


def test_service_errors_keep_the_one_shape(client, api, stored_job):
    headers = api.headers("free")
    cases = {
        f"/api/v1/jobs/{stored_job.id}/runs?params=%7B%22moon%22%3A1%7D": (400, "validation_error"),
        "/api/v1/jobs/999/runs": (404, "not_found"),
        f"/api/v1/matrix?{MATRIX.replace('tp_method', 'moon')}": (400, "validation_error"),
        "/api/v1/matrix?symbol=DOGE/USDT&timeframe=1d&strategy=imbalance&x=rr_target&y=tp_method": (404, "not_found"),
        "/api/v1/strategies/nope": (404, "not_found"),
        "/api/v1/runs/999999/trades": (404, "not_found"),
        "/api/v1/jobs?limit=100000": (422, "validation_error"),
    }
    for url, (status, code) in cases.items():
        response = client.get(url, headers=headers)
        body = response.get_json()
        assert response.status_code == status and body["error"]["code"] == code, (url, body)
        assert set(body["error"]) == {"code", "message", "details"}
    detail = client.get("/api/v1/jobs?limit=0", headers=headers).get_json()["error"]["details"]
    assert "limit" in detail["query"]
