"""Web benchmark (section ``web`` of tools/benchmark.py): server time of the admin pages over a stored sweep.

Stores a full weekly sweep's shape (57,600 runs, ``benchmark_runs.store_sweep_shape``),
signs an admin in through the test client and times each page warm (best of
``REPEATS`` after one warm-up request): the jobs page, a job's detail, one page
of its runs table, the heatmap payload, plus the compare, best-parameters and
progress endpoints. The acceptance targets are printed beside the figures.

Set ``RUNS_BENCH_DATABASE_URL`` to time a MySQL/MariaDB database instead of a
fresh SQLite file (every table in it is dropped first: a throw-away one).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

REPEATS = 7
TARGETS_MS = {"jobs page": 100, "job detail": 300, "heatmap payload": 150, "runs-table page": 100}
ADMIN = ("bench-admin@cryptolens.local", "bench-password")


def section_web(data_dir: Path) -> None:  # noqa: ARG001 - sections take the data directory
    """Time the admin pages on a stored 57,600-run sweep (test client, warm)."""
    from tools.benchmark_runs import mysql_app

    url = os.environ.get("RUNS_BENCH_DATABASE_URL")
    if url:
        with mysql_app(url) as app:
            _time_pages(app)
        return
    from tools.benchmark_sweep import fresh_app

    with fresh_app([]) as (app, _path):
        _time_pages(app)


def _time_pages(app) -> None:
    from app.extensions import db
    from app.services.accounts.users import create_user
    from tools.benchmark_runs import store_sweep_shape

    started = time.perf_counter()
    job_id = store_sweep_shape(name="stored weekly sweep (web benchmark)")
    print(f"web: stored a 57,600-run sweep in {time.perf_counter() - started:.1f}s on {db.engine.dialect.name}")
    create_user(email=ADMIN[0], password=ADMIN[1], tier="admin")
    app.config.update(WTF_CSRF_ENABLED=False, LOGIN_RATE_LIMIT="1000 per minute")
    client = app.test_client()
    assert client.post("/login", data={"email": ADMIN[0], "password": ADMIN[1]}).status_code == 302
    market = "slice=BTC/USDT|1h|imbalance&x=rr_target&y=sl_buffer_pct"
    pages = {
        "jobs page": "/admin/optimization",
        "job detail": f"/admin/optimization/{job_id}",
        "runs-table page": f"/admin/optimization/{job_id}/runs",
        "runs-table page sorted by sharpe_ratio asc, min 10 trades, page 200": (
            f"/admin/optimization/{job_id}/runs?sort=sharpe_ratio&order=asc&min_trades=10&page=200"
        ),
        "runs-table page of one slice with a parameter filter": (
            f"/admin/optimization/{job_id}/runs?slice=ETH/USDT|1h|order_block&params=rr_target%3D2.0"
        ),
        "heatmap payload": f"/admin/optimization/compare.json?job_id={job_id}&{market}",
        "heatmap payload (newest per slice)": f"/admin/optimization/compare.json?{market}",
        "compare page": f"/admin/optimization/compare?job_id={job_id}",
        "best-parameters page": "/admin/optimization/best",
        "progress JSON": f"/admin/optimization/{job_id}/progress.json",
    }
    for label, path in pages.items():
        seconds, size = _best_of(client, path)
        target = TARGETS_MS.get(label)
        verdict = f" (target < {target} ms: {'ok' if seconds * 1000 < target else 'MISSED'})" if target else ""
        print(f"web: {label}: {seconds * 1000:.1f} ms, {size:,} bytes (best of {REPEATS}, warm){verdict}")


def _best_of(client, path: str) -> tuple[float, int]:
    response = client.get(path)
    if response.status_code != 200:
        raise SystemExit(f"web: GET {path} answered {response.status_code}: {response.get_data(as_text=True)[:300]}")
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - started)
    return min(times), len(response.data)
