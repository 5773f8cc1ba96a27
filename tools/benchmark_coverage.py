"""Benchmark section ``coverage``: folder import, ``coverage()``, ``GET /admin/data`` and ``GET /`` (signed in).

Imports every ``PAIR-TF.csv.gz`` of the data directory (the shared set: about
721k candles) through ``import_directory`` (one transaction, all validation),
then times the home page, whose candle coverage used to read every timestamp
to count gaps (about 3 s on the shared set) and now reads one
``candle_series`` row per series. For reference it also times counting the
gaps straight from the candles with a window function, the cost the summary
table avoids on every page view.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


def section_coverage(data_dir: Path) -> None:
    """Print the import time, the two pages (signed in; first and warm) and coverage() over ``data_dir``'s files."""
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from app import create_app
    from app.extensions import db
    from app.models import Candle
    from app.services.accounts.users import create_user
    from app.services.candles import candle_store
    from config import DevelopmentConfig

    print("== coverage: folder import, coverage(), GET /admin/data and GET / (SQLite file) ==")
    with tempfile.TemporaryDirectory() as tmp:
        saved = {k: os.environ.get(k) for k in ("DATABASE_URL", "LOG_LEVEL")}
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'coverage.db'}"
        os.environ["LOG_LEVEL"] = "WARNING"
        try:
            app = create_app(DevelopmentConfig)
            app.config["DEBUG"] = False
            with app.app_context():
                upgrade()
                start = time.perf_counter()
                imports = candle_store.import_directory(data_dir)
                seconds = time.perf_counter() - start
                candles = db.session.scalar(select(func.count()).select_from(Candle))
                print(f"import_directory: {len(imports)} files, {candles:,} candles in {seconds:.2f} s")
                create_user(email="bench@example.com", password="bench-password", tier="admin")
                db.session.remove()
                app.config.update(WTF_CSRF_ENABLED=False)
                client = app.test_client()
                signed_in = client.post("/login", data={"email": "bench@example.com", "password": "bench-password"})
                assert signed_in.status_code == 302
                # The coverage table lives on the admin data page; / is the signed-in dashboard.
                for path in ("/admin/data", "/"):
                    timings = []
                    for _ in range(6):
                        start = time.perf_counter()
                        response = client.get(path)
                        timings.append(time.perf_counter() - start)
                        assert response.status_code == 200, (path, response.status_code)
                    first, best = timings[0] * 1000, min(timings[1:]) * 1000
                    print(f"GET {path}: first {first:.1f} ms, best of next 5 {best:.1f} ms")
                start = time.perf_counter()
                rows = candle_store.coverage()
                print(f"coverage(): {len(rows)} series in {(time.perf_counter() - start) * 1000:.1f} ms")
                start = time.perf_counter()
                for series in {(r["symbol"], r["timeframe"]) for r in rows}:
                    symbol_id = candle_store.find_symbol(series[0]).id
                    candle_store.refresh_series(symbol_id, series[1])
                db.session.rollback()
                print(
                    f"reference: recounting every series from its candles (what a store does for its own series) "
                    f"{(time.perf_counter() - start) * 1000:.0f} ms"
                )
                db.session.remove()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
