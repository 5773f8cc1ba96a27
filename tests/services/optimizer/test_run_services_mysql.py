"""The runs table, its JSON parameter filters, the heatmap and cancel/delete on MySQL/MariaDB (skipped without it)."""

from sqlalchemy import func, select

from app.models import OptimizationRun
from app.services.candles import candle_store
from app.services.optimizer import jobs, results
from app.services.optimizer.runner import JobRunner
from tests.conftest import requires_mysql

pytestmark = requires_mysql

GRID = {"rr_target": [1.5, 2.5], "sl_buffer_pct": [5, 15], "tp_method": ["fixed_rr", "swing_target"]}


def test_run_services_on_mysql(mysql_app, bundled_dir):
    from app.extensions import db

    candle_store.import_csv(bundled_dir / "BTC_USDT-1d.csv.gz", symbol="BTC/USDT", timeframe="1d")
    job = jobs.create_job(
        name="mysql runs",
        symbols=["BTC/USDT"],
        timeframes=["1d"],
        strategies=["imbalance"],
        start_date="2021-01-01",
        end_date="2024-12-31",
        grids=GRID,
        monte_carlo=False,
    )
    JobRunner(workers=1).run(job.id)
    by_params = results.query_runs(job.id, params={"rr_target": 2.5, "tp_method": "swing_target", "sl_buffer_pct": 15})
    assert by_params["total"] == 1 and by_params["rows"][0]["params"]["sl_buffer_pct"] == 15.0
    pages, cursor = [], None
    while True:
        page = results.query_runs(job.id, sort="sharpe_ratio", descending=False, limit=3, cursor=cursor)
        pages.extend(r["id"] for r in page["rows"])
        if (cursor := page["next_cursor"]) is None:
            break
    assert len(set(pages)) == 8
    matrix = results.compare_matrix(
        symbol="BTC/USDT", timeframe="1d", strategy="imbalance", x="rr_target", y="tp_method"
    )
    assert matrix["job_id"] == job.id and len(matrix["cells"]) == 2
    assert len(list(results.runs_csv(job.id))) == 9
    jobs.delete_job(job.id)
    assert db.session.scalar(select(func.count()).select_from(OptimizationRun)) == 0
