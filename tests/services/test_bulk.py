"""Bulk inserts store every value exactly (floats to the last bit, JSON text, NULL) on SQLite and MariaDB."""

import json

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import OptimizationJob, OptimizationRun
from app.services.bulk import _literal
from app.services.candles import candle_store
from app.services.optimizer import jobs
from app.services.optimizer.runner import RUN_METRIC_COLUMNS, JobRunner
from tests.conftest import requires_mysql

GRID = {"rr_target": [1.5, 2.5], "sl_buffer_pct": [5, 15], "tp_method": ["fixed_rr", "swing_target"]}


def _stored_equals_computed(bundled_dir):
    candle_store.import_csv(bundled_dir / "ETH_USDT-1d.csv.gz", symbol="ETH/USDT", timeframe="1d")
    job = jobs.create_job(
        name="exact",
        symbols=["ETH/USDT"],
        timeframes=["1d"],
        strategies=["imbalance"],
        start_date="2021-01-01",
        end_date="2024-12-31",
        grids=GRID,
    )
    results = []
    runner = JobRunner(workers=1)
    job = runner.run(job.id, progress=lambda e: results.append(e.result) if e.result else None)
    (result,) = results
    stored = {
        r.param_key: r for r in db.session.scalars(select(OptimizationRun).where(OptimizationRun.job_id == job.id))
    }
    assert len(stored) == 8
    for position, key in enumerate(result.param_keys):
        run = stored[key]
        assert run.params == json.loads(result.params_json[position])
        for name in RUN_METRIC_COLUMNS:
            assert getattr(run, name) == result.metrics[name].iloc[position], name  # exact, not approx
        assert (run.results_json is not None) == (position == result.best_position)
    assert db.session.get(OptimizationJob, job.id).status == "completed"


def test_bulk_insert_is_exact_on_sqlite(db, bundled_dir):
    _stored_equals_computed(bundled_dir)


@requires_mysql
def test_bulk_insert_is_exact_on_mysql(mysql_app, bundled_dir):
    _stored_equals_computed(bundled_dir)


def test_mysql_literals():
    quote = repr  # stands in for the connection's escaping
    assert [_literal(v, quote) for v in (1, 0.1, 1e-07, None, True, "a'b")] == [
        "1",
        "0.1e0",
        "1e-07",
        "NULL",
        "1",
        '"a\'b"',
    ]
    with pytest.raises(ValueError, match="nan"):
        _literal(float("nan"), quote)
