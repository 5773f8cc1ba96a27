"""Alembic migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect

from app import create_app
from app.extensions import db
from config import TestingConfig

EXPECTED_TABLES = {
    "users",
    "symbols",
    "candles",
    "patterns",
    "user_symbol_preferences",
    "optimization_jobs",
    "optimization_runs",
    "optimization_slices",
    "user_parameter_sets",
}


def _upgraded_app(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    app = create_app(TestingConfig)
    with app.app_context():
        upgrade()
    return app, url


def test_upgrade_creates_every_table(tmp_path, monkeypatch):
    _, url = _upgraded_app(tmp_path, monkeypatch)
    tables = set(inspect(create_engine(url)).get_table_names())
    assert tables >= EXPECTED_TABLES


def test_no_pending_autogenerate_diff(tmp_path, monkeypatch):
    app, url = _upgraded_app(tmp_path, monkeypatch)
    # The app's own filter: full-text structures made by DDL (FTS5 tables) are not model tables.
    include_object = app.extensions["migrate"].configure_args["include_object"]
    with create_engine(url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_object": include_object})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


OLD_GRID = {"rr_target": [2.0, 3.0], "sl_buffer_pct": [10.0], "min_zone_pct": [0.15]}


def _seed_old_schema(connection):
    """Rows as the 0002 schema stored them: one job, one slice of two runs, a preference with custom params."""
    import json

    from sqlalchemy import text

    now = "2026-01-01 00:00:00"
    connection.execute(
        text(
            "INSERT INTO users (id, email, password_hash, tier, created_at) VALUES (1, 'a@b.c', 'x', 'premium', :now)"
        ),
        {"now": now},
    )
    connection.execute(text("INSERT INTO symbols (id, name, exchange, is_active) VALUES (1, 'BTC/USDT', 'binance', 1)"))
    best = {
        "params": {
            "rr_target": 3.0,
            "sl_buffer_pct": 10.0,
            "min_zone_pct": 0.15,
            "tp_method": "fixed_rr",
            "entry_method": "zone_edge",
            "use_overlap": True,
        }
    }
    best["robust"] = {"params": {**best["params"], "rr_target": 2.0}}
    connection.execute(
        text(
            "INSERT INTO optimization_jobs (id, name, status, symbols, timeframes, pattern_types, start_date, end_date,"
            " parameter_grid, commission_pct, slippage_pct, risk_per_trade_pct, ranking_metric, min_trades,"
            " total_runs, completed_runs, failed_runs, best_params_json, validation, monte_carlo, validation_json,"
            " created_at) VALUES (1, 'old', 'completed', :symbols, :tfs, :patterns, '2021-01-01', '2021-12-31', :grid,"
            " 0.08, 0.05, 1.0, 'composite_score', 10, 2, 2, 0, :best, 'none', 1, :checks, :now)"
        ),
        {
            "symbols": json.dumps(["BTC/USDT"]),
            "tfs": json.dumps(["1d"]),
            "patterns": json.dumps(["imbalance"]),
            "grid": json.dumps(OLD_GRID),
            "best": json.dumps({"BTC/USDT|1d|imbalance": best}),
            "checks": json.dumps(
                {"lookahead": {"imbalance": {"status": "ok"}}, "BTC/USDT|1d|imbalance": {"monte_carlo": {"n": 1}}}
            ),
            "now": now,
        },
    )
    metrics = ", ".join(f"{name}" for name in METRICS)
    for run_id, rr, profit in ((1, 2.0, 5.0), (2, 3.0, 7.5)):
        connection.execute(
            text(
                "INSERT INTO optimization_runs (id, job_id, symbol, timeframe, pattern_type, start_date, end_date,"
                " rr_target, sl_buffer_pct, tp_method, entry_method, min_zone_pct, use_overlap, status,"
                f" candles_fingerprint, created_at, {metrics}) VALUES (:id, 1, 'BTC/USDT', '1d', 'imbalance',"
                " '2021-01-01', '2021-12-31', :rr, 10.0, 'fixed_rr', 'zone_edge', 0.15, 1, 'completed', 'f', :now,"
                + ", ".join(f":{name}" for name in METRICS)
                + ")"
            ),
            {
                "id": run_id,
                "rr": rr,
                "now": now,
                **{name: 0 for name in METRICS},
                "total_trades": 12,
                "total_profit_pct": profit,
            },
        )
    connection.execute(
        text(
            "INSERT INTO user_symbol_preferences (user_id, symbol_id, notify_enabled, notify_imbalance,"
            " notify_order_block, notify_liquidity_sweep, rr_target, use_custom_params, params_source)"
            " VALUES (1, 1, 1, 1, 0, 1, 2.5, 1, 'manual')"
        )
    )


METRICS = (
    "total_trades",
    "winning_trades",
    "losing_trades",
    "win_rate",
    "avg_rr",
    "total_profit_pct",
    "max_drawdown",
    "sharpe_ratio",
    "sortino_ratio",
    "profit_factor",
    "avg_trade_duration",
    "max_consecutive_losses",
    "win_loss_ratio",
    "expectancy_r",
    "composite_score",
    "stability_score",
)


def check_data_migration(url, monkeypatch):
    """Upgrade a database holding 0002-era data, check what was carried over, then down, up and check again."""
    from flask_migrate import downgrade
    from sqlalchemy import select

    from app.models import OptimizationJob, OptimizationRun, OptimizationSlice, UserParameterSet, UserSymbolPreference
    from app.services.optimizer import results
    from app.strategies import get_strategy

    monkeypatch.setenv("DATABASE_URL", url)
    app = create_app(TestingConfig)
    with app.app_context():
        upgrade(revision="0002")
        with db.engine.begin() as connection:
            _seed_old_schema(connection)
        for _ in range(2):
            upgrade()
            job = db.session.get(OptimizationJob, 1)
            assert job.strategies == ["imbalance"] and (job.maker_fee_pct, job.taker_fee_pct) == (0.08, 0.08)
            assert job.parameter_grids == {"imbalance": OLD_GRID}
            slice_ = db.session.scalars(select(OptimizationSlice)).one()
            assert slice_.label == "BTC/USDT|1d|imbalance" and slice_.run_count == 2
            assert slice_.checks_json == {"monte_carlo": {"n": 1}}
            space = get_strategy("imbalance").space
            runs = {r.id: r for r in db.session.scalars(select(OptimizationRun))}
            assert runs[2].params == space.validate({"rr_target": 3.0}) and runs[2].param_key == space.key(
                runs[2].params
            )
            assert (slice_.best_run_id, slice_.robust_run_id) == (2, 1)
            assert results.best_params(min_trades=0)[0]["run_id"] == 2
            pref = db.session.scalars(select(UserSymbolPreference)).one()
            assert pref.notify_strategies == ["imbalance", "liquidity_sweep"]
            custom = db.session.scalars(select(UserParameterSet).where(UserParameterSet.strategy == "imbalance")).one()
            assert custom.params["rr_target"] == 2.5 and custom.use_custom
            db.session.remove()
            downgrade(revision="0002")
        db.session.remove()


def test_existing_data_migrates_down_and_up_on_sqlite(tmp_path, monkeypatch):
    check_data_migration(f"sqlite:///{tmp_path / 'data.db'}", monkeypatch)


def check_full_round_trip(url: str, monkeypatch) -> None:
    """Upgrade to head, downgrade to an empty schema, upgrade again: every migration undoes itself."""
    from flask_migrate import downgrade

    monkeypatch.setenv("DATABASE_URL", url)
    app = create_app(TestingConfig)
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert set(inspect(db.engine).get_table_names()) >= EXPECTED_TABLES
        db.session.remove()
        db.engine.dispose()


def test_downgrade_to_base_and_up_again_on_sqlite(tmp_path, monkeypatch):
    check_full_round_trip(f"sqlite:///{tmp_path / 'round_trip.db'}", monkeypatch)
