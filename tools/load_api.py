"""Load test of the JSON API: gunicorn on 127.0.0.1, N concurrent clients for T seconds, parameters and runs.

Usage: ``.venv/bin/python tools/load_api.py [--seconds 30] [--clients 20] [--workers 2]
[--data-dir ../shared/data/candles] [--database-url URL] [--real-sweep]``

Bounded: at most 120 s, 64 clients and ``--max-requests`` requests, loopback
only (the server binds 127.0.0.1; nothing else is contacted). Steps:

1. a fresh database (a temporary SQLite file, or ``--database-url``, whose
   tables are dropped first: a throw-away one) migrated to head, with the
   weekly sweep's candles imported (5 pairs x 30m/1h/4h/1d) and a full weekly
   sweep stored: by default its shape (57,600 runs with the real parameter
   sets, seeded random metrics: ``tools/benchmark_runs.py``), with
   ``--real-sweep`` computed by the runner (slow); production sets applied
   from the best runs of the BTC and ETH slices, an admin with a token;
2. gunicorn with ``--workers`` sync workers, the production config, and a
   rate limit high enough not to be what is measured;
3. one phase per ``--phases`` entry, ``--seconds`` each: ``parameters``
   (``GET /api/v1/parameters``, every slice in turn, current regime),
   ``parameters-base`` (the same with ``regime=base``: no market context), ``runs``
   (``GET /api/v1/jobs/{id}/runs``: slices, sorts, a parameter filter, every
   fifth call also the next page by cursor) and ``mixed`` (both alternating);
4. requests/s, p50/p95/p99 latency per endpoint and errors (anything but
   200 or a connection failure) are printed; gunicorn is stopped.

Numbers are client-side wall times on the same machine (clients and server
share the CPU): compare runs on a quiet machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tools.benchmark_runs import SWEEP_PAIRS, SWEEP_RANGE, SWEEP_TIMEFRAMES  # noqa: E402

HOST = "127.0.0.1"
MAX_SECONDS, MAX_CLIENTS = 120, 64
STRATEGIES = ("imbalance", "order_block", "liquidity_sweep")
PHASES = ["parameters", "parameters-base", "runs", "mixed"]


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'load.db'}"
        job_id, token = prepare(url, data_dir=args.data_dir, real_sweep=args.real_sweep)
        port = _free_port()
        server = _start_gunicorn(url, port=port, workers=args.workers)
        try:
            _wait_healthy(port)
            phases = {}
            for phase in args.phases:
                kinds = ["parameters", "runs"] if phase == "mixed" else [phase]
                phases[phase] = run_clients(
                    port=port,
                    token=token,
                    job_id=job_id,
                    kinds=kinds,
                    clients=args.clients,
                    seconds=args.seconds,
                    max_requests=args.max_requests,
                )
        finally:
            _stop(server)
    for phase, results in phases.items():
        _report(phase, results, seconds=args.seconds, clients=args.clients, workers=args.workers)
    return 0 if not any(r["errors"] for results in phases.values() for r in results.values()) else 1


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-requests", type=int, default=200_000, help="stop after this many requests in all")
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "candles")
    parser.add_argument("--database-url", help="a throw-away database (its tables are dropped); default: SQLite")
    parser.add_argument("--real-sweep", action="store_true", help="compute the sweep with the runner (slow)")
    parser.add_argument(
        "--phases",
        type=lambda text: text.split(","),
        default=PHASES,
        help=f"comma-separated, each --seconds long: {', '.join(PHASES)}",
    )
    args = parser.parse_args(argv)
    if set(args.phases) - set(PHASES):
        parser.error(f"--phases takes {', '.join(PHASES)}")
    if not 0 < args.seconds <= MAX_SECONDS or not 0 < args.clients <= MAX_CLIENTS or not 0 < args.workers <= 8:
        parser.error(f"--seconds 1..{MAX_SECONDS}, --clients 1..{MAX_CLIENTS}, --workers 1..8")
    return args


# ---------------------------------------------------------------------- the stored sweep


def prepare(url: str, *, data_dir: Path, real_sweep: bool) -> tuple[int, str]:
    """Build the database: schema, candles, a weekly sweep, production sets, an admin token; return (job, token)."""
    started = time.perf_counter()
    os.environ["DATABASE_URL"] = url
    if url.startswith("mysql"):
        from tools.benchmark_runs import mysql_app as context
    else:
        context = _sqlite_app
    with context(url):
        from app.services.accounts import api_tokens, users
        from app.services.candles import candle_store

        files = [data_dir / f"{pair}_USDT-{tf}.csv.gz" for pair in SWEEP_PAIRS for tf in SWEEP_TIMEFRAMES]
        for path in files:
            candle_store.import_csv(path, symbol=path.name.split("-")[0].replace("_", "/"), timeframe=_tf(path))
        job_id = _real_sweep() if real_sweep else _stored_shape()
        _apply_best(job_id)
        admin = users.create_user(email="load@example.com", password=secrets.token_hex(8), tier="admin")
        token = api_tokens.create_token(admin, name="load test")[1]
    print(f"prepared in {time.perf_counter() - started:.0f}s: {len(files)} candle files, job {job_id}")
    return job_id, token


class _sqlite_app:  # noqa: N801 - a context manager used like benchmark_runs.mysql_app
    def __init__(self, url: str):
        self.url = url

    def __enter__(self):
        from flask_migrate import upgrade

        from app import create_app

        self.app = create_app()
        self.context = self.app.app_context()
        self.context.push()
        upgrade()
        return self.app

    def __exit__(self, *exc):
        from app.extensions import db

        db.session.remove()
        self.context.pop()


def _tf(path: Path) -> str:
    return path.name.split("-")[1].split(".")[0]


def _stored_shape() -> int:
    from tools.benchmark_runs import store_sweep_shape

    return store_sweep_shape(name="weekly sweep (stored shape)")


def _real_sweep() -> int:
    from app.services.optimizer import jobs
    from app.services.optimizer.runner import JobRunner

    job = jobs.create_job(
        name="weekly sweep",
        symbols=[f"{p}/USDT" for p in SWEEP_PAIRS],
        timeframes=list(SWEEP_TIMEFRAMES),
        strategies=list(STRATEGIES),
        start_date=SWEEP_RANGE[0],
        end_date=SWEEP_RANGE[1],
        grids="default",
    )
    return JobRunner().run(job.id).id


def _apply_best(job_id: int) -> None:
    """Make the best run of each BTC and ETH slice production's set (so the endpoint reads real sets)."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import OptimizationRun, OptimizationSlice
    from app.services.params import parameter_sets

    rows = db.session.execute(
        select(OptimizationSlice, OptimizationRun)
        .join(OptimizationRun, OptimizationRun.id == OptimizationSlice.best_run_id)
        .where(OptimizationSlice.job_id == job_id, OptimizationSlice.symbol.in_(["BTC/USDT", "ETH/USDT"]))
    ).all()
    for slice_, run in rows:
        parameter_sets.apply_set(
            symbol=slice_.symbol,
            timeframe=slice_.timeframe,
            strategy=slice_.strategy,
            params=run.params,
            source="job",
            actor="load test",
            reason="load test",
            job_id=job_id,
            run_id=run.id,
        )


# ---------------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _start_gunicorn(url: str, *, port: int, workers: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "CRYPTOLENS_ENV": "production",
        "DATABASE_URL": url,
        "SECRET_KEY": secrets.token_hex(16),
        "LOG_LEVEL": "WARNING",
        "API_RATE_LIMIT_ADMIN": "10000000/minute",
    }
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--workers",
        str(workers),
        "--bind",
        f"{HOST}:{port}",
        "--access-logfile",
        "-" if os.environ.get("LOAD_ACCESS_LOG") else "/dev/null",
        "run:app",
    ]
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env, start_new_session=True)


def _wait_healthy(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status, _ = _get(port, "/api/v1/health", {})
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("gunicorn did not answer /api/v1/health with 200 within 60 s")


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)  # the process group this script started (gunicorn and its workers)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


# ---------------------------------------------------------------------- the clients


def _get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _paths(job_id: int) -> dict[str, list[str]]:
    slices = [(f"{p}/USDT", tf, s) for p in SWEEP_PAIRS for tf in SWEEP_TIMEFRAMES for s in STRATEGIES]
    parameters = [f"/api/v1/parameters?symbol={quote(sym)}&timeframe={tf}&strategy={s}" for sym, tf, s in slices]
    parameters_base = [f"{path}&regime=base" for path in parameters]
    base = f"/api/v1/jobs/{job_id}/runs"
    runs = [base, f"{base}?sort=sharpe_ratio&order=asc&min_trades=10", f"{base}?strategy=imbalance&sort=win_rate"]
    runs += [f"{base}?symbol={quote(sym)}&timeframe={tf}&strategy={s}&limit=20" for sym, tf, s in slices[::7]]
    runs.append(f"{base}?params={quote(json.dumps({'rr_target': 2.0}))}&fields=total_trades,composite_score")
    return {"parameters": parameters, "parameters-base": parameters_base, "runs": runs}


def run_clients(
    *, port: int, token: str, job_id: int, kinds: list[str], clients: int, seconds: float, max_requests: int
) -> dict[str, dict]:
    """Run the clients; return per endpoint: latencies (s), errors and a sample of what failed."""
    headers = {"Authorization": f"Bearer {token}"}
    paths = _paths(job_id)
    results: dict[str, dict] = defaultdict(lambda: {"latencies": [], "errors": 0, "failures": []})
    lock = threading.Lock()
    budget = {"left": max_requests}
    deadline = time.monotonic() + seconds

    def timed(kind: str, path: str) -> bytes:
        started = time.perf_counter()
        try:
            status, body = _get(port, path, headers)
        except OSError as exc:
            status, body = 0, str(exc).encode()
        elapsed = time.perf_counter() - started
        with lock:
            entry = results[kind]
            entry["latencies"].append(elapsed)
            if status != 200:
                entry["errors"] += 1
                if len(entry["failures"]) < 3:
                    entry["failures"].append(f"{status} {path}: {body[:200]!r}")
        return body if status == 200 else b""

    def client(number: int) -> None:
        i = number
        while time.monotonic() < deadline:
            with lock:
                if budget["left"] <= 0:
                    return
                budget["left"] -= 1
            kind = kinds[i % len(kinds)]
            body = timed(kind, paths[kind][(i // len(kinds)) % len(paths[kind])])
            if kind == "runs" and body and (i // len(kinds)) % 5 == 0:  # every fifth runs call reads the next page
                cursor = json.loads(body).get("next_cursor")
                if cursor:
                    first = paths[kind][(i // len(kinds)) % len(paths[kind])]
                    timed("runs, next page by cursor", f"{first}{'&' if '?' in first else '?'}cursor={cursor}")
            i += clients

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results["_wall"] = {"seconds": time.perf_counter() - started}
    return dict(results)


def _report(phase: str, results: dict[str, dict], *, seconds: float, clients: int, workers: int) -> None:
    wall = results.pop("_wall")["seconds"]
    total = sum(len(r["latencies"]) for r in results.values())
    errors = sum(r["errors"] for r in results.values())
    print(
        f"load [{phase}]: {clients} clients, gunicorn {workers} workers on {HOST}, {wall:.1f}s (asked {seconds:.0f}s)"
    )
    print(f"load [{phase}]: {total:,} requests, {total / wall:,.1f} req/s, {errors} errors")
    for kind, entry in sorted(results.items()):
        lat = sorted(entry["latencies"])
        if not lat:
            continue
        p = {q: lat[min(len(lat) - 1, int(q / 100 * len(lat)))] * 1000 for q in (50, 95, 99)}
        print(
            f"load [{phase}] {kind}: {len(lat):,} requests, {len(lat) / wall:,.1f} req/s, "
            f"p50 {p[50]:.1f} ms, p95 {p[95]:.1f} ms, p99 {p[99]:.1f} ms, {entry['errors']} errors"
        )
        for failure in entry["failures"]:
            print(f"load [{phase}]   e.g. {failure}")


if __name__ == "__main__":
    sys.exit(main())
