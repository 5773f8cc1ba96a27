"""Hand-written hostile inputs: each answers a 4xx in the one error shape (or an empty 200), never a 5xx."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from app.models import OptimizationJob

BAD_SYMBOLS = [
    "BTC/USDT' OR '1'='1",
    "BTC/USDT; DROP TABLE optimization_runs; --",
    "../../etc/passwd",
    "%00",
    "BTC\\USDT",
    "\u2028",
    "$.params",
    '{"$gt": ""}',
    "*",
]


def _error(response, *statuses):
    assert response.status_code in statuses, (response.status_code, response.get_data(as_text=True)[:300])
    body = response.get_json()
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/jobs?limit=1000000000",
        "/api/v1/jobs?limit=-1",
        "/api/v1/jobs/{job}/runs?limit=100000",
        "/api/v1/jobs/{job}/runs?offset=-5",
        "/api/v1/jobs/{job}/runs?offset=99999999999999999999",
        "/api/v1/patterns?cursor=-1",
        "/api/v1/patterns?cursor=0",
        "/api/v1/patterns?cursor=1e400",
        "/api/v1/signals?limit=NaN",
        "/api/v1/jobs/{job}/runs?min_trades=Infinity",
        "/api/v1/jobs/{job}/runs?sort=composite_score;DROP",
        "/api/v1/jobs/{job}/runs?unknown=1",
        "/api/v1/matrix?symbol=BTC/USDT&timeframe=1d&strategy=imbalance&x=rr_target&y=tp_method&min_trades=-1",
        "/api/v1/best-parameters?metric=1;SELECT",
        "/api/v1/best-parameters?job_id=-3",
    ],
)
def test_bad_paging_and_numbers_are_422(client, api, stored_job, url):
    _error(client.get(url.format(job=stored_job.id), headers=api.headers("free")), 422)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/jobs/{job}/runs?cursor=-1",
        "/api/v1/jobs/{job}/runs?cursor=" + "A" * 150,
        "/api/v1/jobs/{job}/runs?cursor=WyJjb21wb3NpdGVfc2NvcmUiLHRydWUsTmFOLDFd",  # NaN inside
        '/api/v1/jobs/{job}/runs?params={"rr_target": NaN}',
        '/api/v1/jobs/{job}/runs?params={"rr_target": Infinity}',
        '/api/v1/jobs/{job}/runs?params={"rr_target": 1e999}',
        "/api/v1/jobs/{job}/runs?params=[1,2]",
        '/api/v1/jobs/{job}/runs?params={"__class__": 1}',
        '/api/v1/jobs/{job}/runs?params={"rr_target": "\' OR 1=1 --"}',
        "/api/v1/jobs/{job}/runs?params=not json",
        "/api/v1/jobs/{job}/runs?fields=password_hash",
        "/api/v1/jobs/{job}/runs?fields=id,params",
    ],
)
def test_bad_cursors_and_parameter_filters_are_400(client, api, stored_job, url):
    _error(client.get(url.replace("{job}", str(stored_job.id)), headers=api.headers("free")), 400)


@pytest.mark.parametrize("symbol", BAD_SYMBOLS)
def test_metacharacters_in_symbols_find_nothing(client, db, api, stored_job, symbol):
    headers = api.headers("free")
    q = quote(symbol, safe="")
    runs = client.get(f"/api/v1/jobs/{stored_job.id}/runs?symbol={q}", headers=headers)
    if len(symbol) > 30:  # longer than any symbol: refused by the schema
        _error(runs, 422)
        return
    assert runs.status_code == 200 and runs.get_json()["total"] == 0
    assert client.get(f"/api/v1/patterns?symbol={q}", headers=headers).get_json()["rows"] == []
    best = client.get(f"/api/v1/best-parameters?symbol={q}&min_trades=0", headers=headers)
    assert best.status_code == 200 and best.get_json()["best"] == []
    matrix = client.get(
        f"/api/v1/matrix?symbol={q}&timeframe=1d&strategy=imbalance&x=rr_target&y=tp_method", headers=headers
    )
    _error(matrix, 404)
    assert db.session.get(OptimizationJob, stored_job.id) is not None  # nothing dropped


def test_symbols_in_a_path_segment_are_404_not_traversal(client, api):
    for path in ("/api/v1/strategies/..%2F..%2Fetc%2Fpasswd", "/api/v1/strategies/BTC%2FUSDT", "/api/v1/jobs/1%3B1"):
        assert client.get(path, headers=api.headers("free")).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "x", "min_trades": NaN}',
        '{"name": "x", "min_trades": Infinity}',
        '{"name": "x", "costs": {"maker_fee_pct": -Infinity}}',
        '{"name": "x", "is_admin": true}',
        '{"name": "x", "symbols": []}',
        '{"name": "' + "x" * 500 + '"}',
        '{"name": "x", "timeframes": ["7m"]}',
        '{"name": "x", "grids": 5}',
        '{"name": "x", "min_trades": 1e999}',
        "[1, 2, 3]",
        '"just text"',
    ],
)
def test_hostile_job_bodies_are_422(client, api, body):
    response = client.post("/api/v1/jobs", data=body, content_type="application/json", headers=api.headers("admin"))
    _error(response, 422)


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "x", "symbols": ["BTC/USDT\' OR 1=1"], "timeframes": ["1d"]}',
        '{"name": "x", "symbols": ["BTC/USDT"], "timeframes": ["1d"], "strategies": ["../../os"]}',
        '{"name": "x", "symbols": ["BTC/USDT"], "timeframes": ["1d"], "grids": {"rr_target": [NaN]}}',
        '{"name": "x", "symbols": ["BTC/USDT"], "timeframes": ["1d"], "grids": {"rr_target": [1e308, -1e308]}}',
        '{"name": "x", "symbols": ["BTC/USDT"], "timeframes": ["1d"], "start_date": "9999-99-99"}',
        '{"name": "x", "symbols": ["BTC/USDT"], "timeframes": ["1d"], "costs": "free money"}',
    ],
)
def test_hostile_job_contents_are_4xx(client, api, stored_job, body):
    response = client.post("/api/v1/jobs", data=body, content_type="application/json", headers=api.headers("admin"))
    _error(response, 400, 422)


def test_broken_and_huge_bodies(client, api):
    admin = api.headers("admin")
    _error(client.post("/api/v1/tokens", data="{", content_type="application/json", headers=admin), 400)
    _error(client.post("/api/v1/tokens", data=b"\xff\xfe", content_type="application/json", headers=admin), 400)
    megabyte = '{"name": "' + "x" * (1024 * 1024) + '"}'
    _error(client.post("/api/v1/tokens", data=megabyte, content_type="application/json", headers=admin), 413)
    nested = "[" * 100_000 + "]" * 100_000
    _error(client.post("/api/v1/jobs", data=nested, content_type="application/json", headers=admin), 413, 400, 422)
    _error(client.post("/api/v1/tokens", data="name=x", content_type="text/plain", headers=admin), 400, 415, 422)


def test_wrong_methods_and_unknown_paths_answer_json(client, api):
    _error(client.put("/api/v1/jobs", headers=api.headers("admin")), 405)
    _error(client.get("/api/v1/nope", headers=api.headers("admin")), 404)
