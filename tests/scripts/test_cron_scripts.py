"""Cron entry points: scripts/scan_patterns.py and scripts/run_optimization.py (exit codes, --new)."""

import importlib.util

import pytest
from sqlalchemy import func, select

from app import create_app
from app.cli.errors import EXIT_BAD_INPUT, EXIT_BUSY
from app.core.patterns import registry
from app.core.patterns.fair_value_gap import FVGDetector
from app.extensions import db
from app.models import OptimizationJob, OptimizationRun, OptimizationSlice, Pattern
from app.models._time import utcnow
from app.services.candles import candle_store
from app.strategies import get_strategy, strategy_names
from config import TestingConfig
from tests.conftest import REPO_ROOT


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def file_db(tmp_path, monkeypatch, bundled_dir):
    """A SQLite file shared by the test and the scripts (which build their own app from DATABASE_URL)."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'scripts.db'}")
    app = create_app(TestingConfig)
    with app.app_context():
        db.create_all()
        for pair in ("BTC", "ETH"):
            candle_store.import_csv(bundled_dir / f"{pair}_USDT-1d.csv.gz", symbol=f"{pair}/USDT", timeframe="1d")
        yield app


def _exit_code(script, args) -> int:
    """Run a script's ``main`` as cron would and return its exit status."""
    return script.main(args)


def _count(model, **filters):
    query = select(func.count()).select_from(model)
    for name, value in filters.items():
        query = query.where(getattr(model, name) == value)
    return db.session.scalar(query)


def test_scan_patterns_script(file_db, capsys):
    scan = _load_script("scan_patterns")
    assert scan.main(["--symbol", "BTC/USDT", "--timeframe", "1d"]) == 0
    stored = _count(Pattern)
    assert stored > 0 and f"new patterns: {stored}" in capsys.readouterr().out
    assert scan.main(["--symbol", "BTC/USDT", "--timeframe", "1d"]) == 0
    assert _count(Pattern) == stored
    assert scan.main(["--symbol", "NOPE/USDT", "--timeframe", "1d"]) == 2  # bad input (docs/design-rules.md#exit-codes)
    assert "unknown symbol" in capsys.readouterr().err


def test_run_optimization_new_quick_then_same_job_adds_nothing(file_db, capsys):
    run = _load_script("run_optimization")
    assert _exit_code(run, ["--new", "--preset", "quick", "--workers", "1"]) == 0
    job = db.session.scalar(select(OptimizationJob))
    # Every active symbol x the configured timeframes that are stored (only 1d here) x every strategy's quick grid.
    assert job.symbols == ["BTC/USDT", "ETH/USDT"] and job.timeframes == ["1d"]
    quick = sum(get_strategy(s).space.grid_size(get_strategy(s).space.preset("quick")) for s in strategy_names())
    assert job.total_runs == 2 * 1 * quick == _count(OptimizationRun, job_id=job.id)
    assert _count(OptimizationSlice, job_id=job.id, status="completed") == 2 * len(strategy_names())
    assert job.end_date == "2025-09-18" and job.start_date == "2020-09-19"  # 1825 days back
    ids = set(db.session.scalars(select(OptimizationRun.id)))
    assert _exit_code(run, ["--job-id", str(job.id), "--workers", "1"]) == 0
    db.session.expire_all()
    assert set(db.session.scalars(select(OptimizationRun.id))) == ids
    assert "completed" in capsys.readouterr().out


def test_run_optimization_exit_codes(file_db, capsys):
    run = _load_script("run_optimization")
    assert _exit_code(run, ["--new", "--symbols", "DOGE/USDT"]) == EXIT_BAD_INPUT
    assert "unknown symbol(s): DOGE/USDT" in capsys.readouterr().err
    assert _count(OptimizationJob) == 0
    assert _exit_code(run, ["--job-id", "42"]) == EXIT_BAD_INPUT
    # The flask command's options, reused: a bad grid or an empty list is bad input, nothing created.
    assert _exit_code(run, ["--new", "--grid", "null"]) == EXIT_BAD_INPUT
    assert _exit_code(run, ["--new", "--symbols", ",,"]) == EXIT_BAD_INPUT
    assert _exit_code(run, ["--new", "--workers", "0"]) == EXIT_BAD_INPUT
    assert _count(OptimizationJob) == 0

    assert _exit_code(run, []) == 0 and "no pending optimization job" in capsys.readouterr().out

    previous = registry.register_detector("imbalance", ExplodingDetector)
    try:
        assert _exit_code(run, ["--new", "--preset", "quick", "--workers", "1", "--strategies", "imbalance"]) == 1
    finally:
        registry.register_detector("imbalance", previous)
    job = db.session.scalar(select(OptimizationJob))
    assert job.status == "failed"
    # Fixed detector: running the failed job again retries only its failed slices.
    assert _exit_code(run, ["--job-id", str(job.id), "--workers", "1"]) == 0

    job.status, job.heartbeat_at, job.claimed_by = "running", utcnow(), "other-host:1"
    db.session.commit()
    assert _exit_code(run, ["--job-id", str(job.id)]) == EXIT_BUSY
    assert "already running" in capsys.readouterr().err


class ExplodingDetector(FVGDetector):
    def find_candidates(self, *args, **kwargs):
        raise RuntimeError("boom")
