"""Job management (cancel, delete, re-run, progress) and the run read services (runs table, CSV, heatmap,
importance, trades) that the dashboard and the API share."""

from __future__ import annotations

import base64
import csv
import io
import json

import pytest
from sqlalchemy import func, select

from app.enums import JobStatus
from app.errors import ConflictError, NotFoundError, ValidationError
from app.models import OptimizationJob, OptimizationRun, OptimizationSlice
from app.models._time import utcnow
from app.services.candles import candle_store
from app.services.optimizer import jobs, results
from app.services.optimizer.runner import JobRunner

GRID = {"rr_target": [1.5, 2.5, 3.5], "sl_buffer_pct": [5, 15], "tp_method": ["fixed_rr", "swing_target"]}


@pytest.fixture
def daily(db, bundled_dir):
    for pair in ("BTC", "ETH"):
        candle_store.import_csv(bundled_dir / f"{pair}_USDT-1d.csv.gz", symbol=f"{pair}/USDT", timeframe="1d")


def _job(**overrides):
    args = {
        "name": "runs test",
        "symbols": ["BTC/USDT", "ETH/USDT"],
        "timeframes": ["1d"],
        "strategies": ["imbalance", "order_block"],
        "start_date": "2021-01-01",
        "end_date": "2024-12-31",
        "grids": GRID,
        "monte_carlo": False,
    }
    args.update(overrides)
    return jobs.create_job(**args)


@pytest.fixture
def done(daily):
    """A completed 2 x 1 x 2 job of 12 runs per slice (48 runs)."""
    return JobRunner(workers=1).run(_job().id)


def _all_runs(db, job_id):
    return db.session.execute(
        select(OptimizationRun.id, OptimizationRun.composite_score, OptimizationRun.total_trades).where(
            OptimizationRun.job_id == job_id
        )
    ).all()


# ---------------------------------------------------------------------- cancel, delete, re-run, progress


def test_cancel_a_pending_job_is_never_picked_up(daily, db):
    job = _job()
    progress = jobs.cancel_job(job.id)
    assert progress["status"] == JobStatus.CANCELLED and progress["id"] == job.id
    assert jobs.next_runnable_job(stale_after_seconds=600) is None
    with pytest.raises(ConflictError, match="cancelled"):
        jobs.cancel_job(job.id)


def test_cancel_a_running_job_stops_at_the_next_slice_and_keeps_what_it_stored(daily, db):
    job = _job()

    def cancel_after_first(event):
        if event.result is not None and event.done_slices == 1:
            jobs.cancel_job(job.id)

    finished = JobRunner(workers=1).run(job.id, progress=cancel_after_first)
    assert finished.status == JobStatus.CANCELLED
    assert finished.claimed_by is None
    stored = db.session.scalar(
        select(func.count()).select_from(OptimizationSlice).where(OptimizationSlice.job_id == job.id)
    )
    assert stored == 1
    assert (
        finished.completed_runs
        == 12
        == db.session.scalar(select(func.count()).select_from(OptimizationRun).where(OptimizationRun.job_id == job.id))
    )
    assert "cancelled" in finished.summary


def test_completed_job_cannot_be_cancelled(done):
    with pytest.raises(ConflictError, match="completed"):
        jobs.cancel_job(done.id)


def test_delete_removes_runs_and_slices_but_refuses_a_live_job(daily, db, done):
    live = _job(name="live")
    with pytest.raises(ConflictError, match="cancel it"):
        jobs.delete_job(live.id)
    live.status, live.heartbeat_at = JobStatus.RUNNING, utcnow()
    db.session.commit()
    with pytest.raises(ConflictError):
        jobs.delete_job(live.id)
    jobs.delete_job(done.id)
    assert db.session.get(OptimizationJob, done.id) is None
    for model in (OptimizationRun, OptimizationSlice):
        assert db.session.scalar(select(func.count()).select_from(model).where(model.job_id == done.id)) == 0
    with pytest.raises(NotFoundError):
        jobs.delete_job(done.id)


def test_rerun_copies_the_job_spec_into_a_new_pending_job(done):
    again = jobs.rerun_job(done.id)
    assert again.id != done.id and again.status == JobStatus.PENDING
    assert again.name == "runs test (re-run)"
    for attr in ("symbols", "timeframes", "strategies", "start_date", "end_date", "parameter_grids", "costs"):
        assert getattr(again, attr) == getattr(done, attr)
    assert again.total_runs == done.total_runs and again.monte_carlo is False


def test_job_progress(daily, db, done):
    progress = jobs.job_progress(done)
    assert progress["status"] == "completed" and progress["progress_pct"] == 100.0
    assert progress["completed_runs"] == progress["total_runs"] == 48
    assert progress["eta_seconds"] is None and progress["runs_per_second"] > 0
    pending = jobs.job_progress(_job(name="later"))
    assert pending["runs_per_second"] is None and pending["progress_pct"] == 0.0


# ---------------------------------------------------------------------- the runs table


def test_query_runs_sorts_filters_and_counts(db, done):
    everything = _all_runs(db, done.id)
    page = results.query_runs(done.id, limit=10)
    assert page["total"] == len(everything) == 48
    expected = sorted(everything, key=lambda r: (-r.composite_score, r.id))[:10]
    assert [r["id"] for r in page["rows"]] == [r.id for r in expected]
    row = page["rows"][0]
    assert {"id", "symbol", "timeframe", "strategy", "params", "total_trades", "stability_score"} <= set(row)

    ascending = results.query_runs(done.id, sort="total_trades", descending=False, limit=5)
    assert [r["total_trades"] for r in ascending["rows"]] == sorted(r.total_trades for r in everything)[:5]

    one_slice = results.query_runs(done.id, slice=("ETH/USDT", "1d", "order_block"))
    assert one_slice["total"] == 12
    assert {(r["symbol"], r["strategy"]) for r in one_slice["rows"]} == {("ETH/USDT", "order_block")}

    by_params = results.query_runs(done.id, params={"rr_target": 2.5, "tp_method": "fixed_rr"})
    assert by_params["total"] == 8  # 4 slices x sl_buffer_pct 5 and 15
    assert all(r["params"]["rr_target"] == 2.5 and r["params"]["tp_method"] == "fixed_rr" for r in by_params["rows"])
    assert results.query_runs(done.id, params={"sl_buffer_pct": 15})["total"] == 24

    thick = results.query_runs(done.id, min_trades=20)
    assert thick["total"] == sum(r.total_trades >= 20 for r in everything)

    best = results.query_runs(done.id, best_only=True)
    best_ids = set(db.session.scalars(select(OptimizationSlice.best_run_id).where(OptimizationSlice.job_id == done.id)))
    assert {r["id"] for r in best["rows"]} == best_ids - {None}

    narrow = results.query_runs(done.id, fields=["sharpe_ratio"], limit=1)
    assert set(narrow["rows"][0]) == {"id", "symbol", "timeframe", "strategy", "params", "sharpe_ratio"}


def test_cursor_pages_walk_every_run_once_in_order(db, done):
    seen, cursor = [], None
    while True:
        page = results.query_runs(done.id, sort="win_rate", limit=7, cursor=cursor)
        seen.extend(r["id"] for r in page["rows"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    by_offset = [
        r["id"]
        for off in range(0, 48, 7)
        for r in results.query_runs(done.id, sort="win_rate", limit=7, offset=off)["rows"]
    ]
    assert seen == by_offset and len(set(seen)) == 48


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sort": "password"}, "sort must be"),
        ({"limit": 0}, "limit must be"),
        ({"limit": 10**9}, "limit must be"),
        ({"offset": -1}, "offset must be"),
        ({"limit": True}, "limit must be"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": base64.urlsafe_b64encode(json.dumps(["id", True, 1, 1]).encode()).decode()}, "another sort"),
        ({"cursor": base64.urlsafe_b64encode(b'["composite_score",true,NaN,1]').decode()}, "cursor"),
        ({"params": {"moon": 1}}, "unknown parameter"),
        ({"params": {"rr_target": "high"}}, "rr_target"),
        ({"params": {"rr_target": float("nan")}}, "rr_target"),
        ({"fields": ["password_hash"]}, "unknown field"),
        ({"slice": ("BTC/USDT", "1d")}, "slice must be"),
        ({"slice": {"symbol": "x", "evil": 1}}, "unknown key"),
        ({"min_trades": -3}, "min_trades"),
    ],
)
def test_query_runs_refuses_bad_input(done, kwargs, message):
    with pytest.raises(ValidationError, match=message):
        results.query_runs(done.id, **kwargs)


def test_query_runs_with_metacharacters_in_the_slice_finds_nothing(done):
    page = results.query_runs(done.id, slice={"symbol": "BTC/USDT' OR 1=1 --"})
    assert page == {"total": 0, "rows": [], "next_cursor": None}


def test_unknown_job(db):
    with pytest.raises(NotFoundError):
        results.query_runs(999)


def test_runs_csv_holds_every_matching_run(done):
    lines = list(results.runs_csv(done.id, slice={"strategy": "imbalance"}, fields=["total_trades", "sharpe_ratio"]))
    table = list(csv.reader(io.StringIO("".join(lines))))
    assert table[0][:4] == ["id", "symbol", "timeframe", "strategy"]
    assert {"rr_target", "sl_buffer_pct", "tp_method"} <= set(table[0]) and table[0][-1] == "sharpe_ratio"
    assert len(table) == 1 + 24 and {row[3] for row in table[1:]} == {"imbalance"}
    with pytest.raises(ValidationError):
        next(results.runs_csv(done.id, sort="nope"))


# ---------------------------------------------------------------------- heatmap and importance


def test_compare_matrix_folds_the_other_parameters(db, done):
    matrix = results.compare_matrix(
        symbol="BTC/USDT",
        timeframe="1d",
        strategy="imbalance",
        x="rr_target",
        y="tp_method",
        metric="total_profit_pct",
        fold="mean",
        min_trades=0,
    )
    assert matrix["job_id"] == done.id
    assert matrix["x_values"] == [1.5, 2.5, 3.5] and matrix["y_values"] == ["fixed_rr", "swing_target"]
    runs = results.query_runs(
        done.id, slice=("BTC/USDT", "1d", "imbalance"), params={"rr_target": 2.5, "tp_method": "fixed_rr"}
    )
    cell = matrix["cells"][0][1]
    assert cell["runs"] == 2
    assert cell["value"] == pytest.approx(sum(r["total_profit_pct"] for r in runs["rows"]) / 2)
    best = max(runs["rows"], key=lambda r: r["total_profit_pct"])
    assert cell["run_id"] == best["id"] and cell["params"] == best["params"]
    values = [c["value"] for row in matrix["cells"] for c in row]
    assert matrix["best"]["value"] == max(values)

    strict = results.compare_matrix(
        job_id=done.id,
        symbol="BTC/USDT",
        timeframe="1d",
        strategy="imbalance",
        x="rr_target",
        y="sl_buffer_pct",
        min_trades=10**6,
    )
    assert strict["best"] is None and all(c["value"] is None for row in strict["cells"] for c in row)


def test_compare_matrix_of_all_slices_pools_their_runs(done):
    pooled = results.compare_matrix(
        symbol=None,
        timeframe=None,
        strategy="imbalance",
        x="rr_target",
        y="tp_method",
        metric="total_profit_pct",
        fold="mean",
        min_trades=0,
    )
    rows = results.query_runs(done.id, slice={"strategy": "imbalance"}, limit=500)["rows"]
    slices = {(r["symbol"], r["timeframe"]) for r in rows}
    assert pooled["slices"] == len(slices) > 1 and pooled["slice_id"] is None and pooled["job_id"] == done.id
    in_cell = [r for r in rows if r["params"]["rr_target"] == 2.5 and r["params"]["tp_method"] == "fixed_rr"]
    cell = pooled["cells"][0][1]
    assert cell["runs"] == len(in_cell) == 2 * len(slices)
    assert cell["value"] == pytest.approx(sum(r["total_profit_pct"] for r in in_cell) / len(in_cell))
    importance = results.parameter_importance(symbol=None, timeframe=None, strategy="imbalance")
    assert importance["runs"] == len(rows)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"x": "moon"}, ValidationError),
        ({"x": "rr_target", "y": "rr_target"}, ValidationError),
        ({"metric": "nope"}, ValidationError),
        ({"fold": "sum"}, ValidationError),
        ({"strategy": "nope"}, ValidationError),
        ({"symbol": "DOGE/USDT"}, NotFoundError),
        ({"job_id": 999}, NotFoundError),
    ],
)
def test_compare_matrix_refuses_bad_input(done, kwargs, error):
    args = {"symbol": "BTC/USDT", "timeframe": "1d", "strategy": "imbalance", "x": "rr_target", "y": "tp_method"}
    with pytest.raises(error):
        results.compare_matrix(**{**args, **kwargs})


def test_parameter_importance(done):
    report = results.parameter_importance(
        job_id=done.id, symbol="ETH/USDT", timeframe="1d", strategy="imbalance", metric="win_rate"
    )
    assert report["runs"] == 12
    names = [p["parameter"] for p in report["parameters"]]
    assert set(names) == {"rr_target", "sl_buffer_pct", "tp_method"}
    shares = [p["share"] for p in report["parameters"]]
    assert shares == sorted(shares, reverse=True) and all(0.0 <= s <= 1.0 for s in shares)


# ---------------------------------------------------------------------- one run's trades


def test_run_trades_stored_and_recomputed(db, done):
    best_id = db.session.scalar(
        select(OptimizationSlice.best_run_id).where(OptimizationSlice.job_id == done.id).limit(1)
    )
    other_id = db.session.scalar(
        select(OptimizationRun.id)
        .where(OptimizationRun.job_id == done.id, OptimizationRun.results_json.is_(None))
        .limit(1)
    )
    for run_id, recomputed in ((best_id, False), (other_id, True)):
        trades = results.run_trades(run_id)
        assert trades["recomputed"] is recomputed and trades["run_id"] == run_id
        assert len(trades["drawdown"]) == len(trades["equity_curve"])
        assert all(p["drawdown_pct"] <= 0 for p in trades["drawdown"])
        assert sum(b["count"] for b in trades["r_histogram"]) == len(trades["trades"])
    with pytest.raises(NotFoundError):
        results.run_trades(10**9)
