"""strategies: generic parameter sets per run, slice rows, venue-aware costs, per-strategy preferences

Jobs speak of strategies with one grid each and a maker/taker cost model;
runs store their parameters as JSON with a canonical key, grouped under slice
rows that keep each slice's best runs and checks (formerly job-wide JSON);
preferences keep per-strategy parameter sets. Existing data is carried over
(and back on downgrade, for the pattern strategies that existed before).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 20:00:00
"""

import hashlib
import json
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The pattern strategies' parameter order as declared at this revision (app.strategies.patterns): the
# canonical run key is computed from it, frozen here so later code changes cannot alter old keys.
PATTERN_PARAMS = ("rr_target", "sl_buffer_pct", "min_zone_pct", "tp_method", "entry_method", "use_overlap")
FLOAT_PARAMS = ("rr_target", "sl_buffer_pct", "min_zone_pct")
PATTERN_TYPES = ("imbalance", "order_block", "liquidity_sweep")
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
INT_METRICS = ("total_trades", "winning_trades", "losing_trades", "max_consecutive_losses")
CHUNK = 5_000


def _key(params):
    canonical = json.dumps([params[name] for name in PATTERN_PARAMS], separators=(",", ":"))
    return hashlib.blake2b(canonical.encode(), digest_size=10).hexdigest()


def _canonical(row):
    return {
        name: float(row[name]) if name in FLOAT_PARAMS else (bool(row[name]) if name == "use_overlap" else row[name])
        for name in PATTERN_PARAMS
    }


def _json(value):
    if value is None or isinstance(value, dict | list):
        return value
    return json.loads(value)


def _dt(value):
    """SQLite hands raw-SQL datetimes back as text; typed inserts want datetime objects."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _metric_columns():
    return [sa.Column(name, sa.Integer() if name in INT_METRICS else sa.Double(), nullable=False) for name in METRICS]


def _insert(conn, table, rows):
    for start in range(0, len(rows), CHUNK):
        conn.execute(table.insert(), rows[start : start + CHUNK])


# --------------------------------------------------------------------------- upgrade


def upgrade():
    conn = op.get_bind()
    old_runs = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM optimization_runs ORDER BY id"))]
    old_prefs = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM user_symbol_preferences"))]
    jobs = {r.id: dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM optimization_jobs"))}

    with op.batch_alter_table("optimization_jobs") as batch_op:
        batch_op.add_column(sa.Column("strategies", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("parameter_grids", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("maker_fee_pct", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("taker_fee_pct", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("lease", sa.Integer(), server_default="0", nullable=False))
    jobs_table = sa.table(
        "optimization_jobs",
        sa.column("id"),
        sa.column("strategies", sa.JSON()),
        sa.column("parameter_grids", sa.JSON()),
        sa.column("maker_fee_pct"),
        sa.column("taker_fee_pct"),
        sa.column("validation_json", sa.JSON(none_as_null=True)),
    )
    for job in jobs.values():
        patterns = _json(job["pattern_types"])
        grid = _json(job["parameter_grid"])
        validation = _json(job["validation_json"]) or {}
        conn.execute(
            jobs_table.update()
            .where(jobs_table.c.id == job["id"])
            .values(
                strategies=patterns,
                parameter_grids={p: grid for p in patterns},
                maker_fee_pct=job["commission_pct"],
                taker_fee_pct=job["commission_pct"],
                validation_json={"lookahead": validation["lookahead"]} if "lookahead" in validation else None,
            )
        )
    with op.batch_alter_table("optimization_jobs") as batch_op:
        for name in ("strategies", "parameter_grids"):
            batch_op.alter_column(name, existing_type=sa.JSON(), nullable=False)
        for name in ("maker_fee_pct", "taker_fee_pct"):
            batch_op.alter_column(name, existing_type=sa.Double(), nullable=False)
        for name in ("pattern_types", "parameter_grid", "commission_pct", "best_params_json"):
            batch_op.drop_column(name)

    slices = op.create_table(
        "optimization_slices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=20), nullable=False),
        sa.Column("timeframe", sa.String(length=5), nullable=False),
        sa.Column("strategy", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("run_count", sa.Integer(), nullable=False),
        sa.Column("candles_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("best_run_id", sa.Integer(), nullable=True),
        sa.Column("robust_run_id", sa.Integer(), nullable=True),
        sa.Column("best_runs", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("checks_json", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column("stored_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["optimization_jobs.id"],
            name=op.f("fk_optimization_slices_job_id_optimization_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_optimization_slices")),
        sa.UniqueConstraint("job_id", "symbol", "timeframe", "strategy", name="uq_optimization_slice"),
    )
    with op.batch_alter_table("optimization_slices") as batch_op:
        batch_op.create_index("ix_optimization_slices_market", ["symbol", "timeframe", "strategy"], unique=False)

    op.drop_table("optimization_runs")
    runs = op.create_table(
        "optimization_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("slice_id", sa.Integer(), nullable=False),
        sa.Column("param_key", sa.String(length=20), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        *_metric_columns(),
        sa.Column("results_json", sa.JSON(none_as_null=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["optimization_jobs.id"], name=op.f("fk_optimization_runs_job_id_optimization_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["slice_id"],
            ["optimization_slices.id"],
            name=op.f("fk_optimization_runs_slice_id_optimization_slices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_optimization_runs")),
        sa.UniqueConstraint("slice_id", "param_key", name="uq_optimization_run"),
    )
    with op.batch_alter_table("optimization_runs") as batch_op:
        batch_op.create_index("idx_opt_run_job", ["job_id"], unique=False)
        batch_op.create_index("idx_opt_run_slice_score", ["slice_id", "composite_score"], unique=False)
    _carry_runs(conn, jobs, old_runs, slices, runs)

    op.drop_table("user_symbol_preferences")
    prefs, sets = _create_preference_tables()
    _carry_preferences(conn, old_prefs, prefs, sets)


def _carry_runs(conn, jobs, old_runs, slices, runs):
    """Group old runs into slice rows (best runs and checks from the job's JSON) and copy the completed ones."""
    grouped = {}
    for row in old_runs:
        grouped.setdefault((row["job_id"], row["symbol"], row["timeframe"], row["pattern_type"]), []).append(row)
    new_runs = []
    for (job_id, symbol, timeframe, strategy), rows in grouped.items():
        job = jobs[job_id]
        label = f"{symbol}|{timeframe}|{strategy}"
        failed = [r for r in rows if r["status"] == "failed"]
        done = [r for r in rows if r["status"] == "completed"]
        slice_id = conn.execute(
            slices.insert().values(
                job_id=job_id,
                symbol=symbol,
                timeframe=timeframe,
                strategy=strategy,
                status="failed" if failed else "completed",
                run_count=0 if failed else len(done),
                candles_fingerprint=rows[0]["candles_fingerprint"],
                checks_json=(_json(job["validation_json"]) or {}).get(label),
                error_message=failed[0]["error_message"] if failed else None,
                seconds=0.0,
                stored_at=_dt(rows[0]["created_at"]),
            )
        ).inserted_primary_key[0]
        if failed:
            continue
        best = (_json(job["best_params_json"]) or {}).get(label) or {}
        wanted = {"best": _key_of(best.get("params")), "robust": _key_of((best.get("robust") or {}).get("params"))}
        for row in done:
            params = _canonical(row)
            new_runs.append(
                {
                    "id": row["id"],
                    "job_id": job_id,
                    "slice_id": slice_id,
                    "param_key": _key(params),
                    "params": params,
                    **{name: row[name] for name in METRICS},
                    "results_json": _json(row["results_json"]),
                }
            )
        ids = {r["param_key"]: r["id"] for r in new_runs[-len(done) :]}
        conn.execute(
            slices.update()
            .where(slices.c.id == slice_id)
            .values(best_run_id=ids.get(wanted["best"]), robust_run_id=ids.get(wanted["robust"]))
        )
    _insert(conn, runs, new_runs)


def _key_of(params):
    return _key(_canonical(params)) if params else None


def _create_preference_tables():
    prefs = op.create_table(
        "user_symbol_preferences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("symbol_id", sa.Integer(), nullable=False),
        sa.Column("notify_enabled", sa.Boolean(), nullable=False),
        sa.Column("notify_strategies", sa.JSON(none_as_null=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["symbol_id"], ["symbols.id"], name=op.f("fk_user_symbol_preferences_symbol_id_symbols"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_symbol_preferences_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_symbol_preferences")),
        sa.UniqueConstraint("user_id", "symbol_id", name=op.f("uq_user_symbol_preferences_user_id")),
    )
    sets = op.create_table(
        "user_parameter_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("symbol_id", sa.Integer(), nullable=False),
        sa.Column("strategy", sa.String(length=30), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("use_custom", sa.Boolean(), nullable=False),
        sa.Column("params_source", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["symbol_id"], ["symbols.id"], name=op.f("fk_user_parameter_sets_symbol_id_symbols"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_parameter_sets_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_parameter_sets")),
        sa.UniqueConstraint("user_id", "symbol_id", "strategy", name="uq_user_parameter_set"),
    )
    return prefs, sets


def _carry_preferences(conn, old_prefs, prefs, sets):
    """Notification flags become a strategy list (None: all); custom parameters one set per pattern strategy."""
    defaults = {"rr_target": 2.0, "sl_buffer_pct": 10.0, "min_zone_pct": 0.15}
    defaults.update(tp_method="fixed_rr", entry_method="zone_edge", use_overlap=True)
    pref_rows, set_rows = [], []
    for row in old_prefs:
        chosen = [p for p in PATTERN_TYPES if row[f"notify_{p}"]]
        pref_rows.append(
            {
                "id": row["id"],
                "user_id": row["user_id"],
                "symbol_id": row["symbol_id"],
                "notify_enabled": row["notify_enabled"],
                "notify_strategies": None if len(chosen) == len(PATTERN_TYPES) else chosen,
            }
        )
        given = {name: row[name] for name in PATTERN_PARAMS if row[name] is not None}
        if not given:
            continue
        params = _canonical({**defaults, **given})
        for strategy in PATTERN_TYPES:
            set_rows.append(
                {
                    "user_id": row["user_id"],
                    "symbol_id": row["symbol_id"],
                    "strategy": strategy,
                    "params": params,
                    "use_custom": bool(row["use_custom_params"]),
                    "params_source": row["params_source"] or "manual",
                    "updated_at": _dt(row["params_updated_at"]) or datetime.utcnow(),
                }
            )
    _insert(conn, prefs, pref_rows)
    _insert(conn, sets, set_rows)


# --------------------------------------------------------------------------- downgrade


def downgrade():
    conn = op.get_bind()
    slices = {r.id: dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM optimization_slices"))}
    runs = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM optimization_runs ORDER BY id"))]
    prefs = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM user_symbol_preferences"))]
    sets = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM user_parameter_sets"))]
    jobs = {r.id: dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM optimization_jobs"))}

    op.drop_table("user_parameter_sets")
    op.drop_table("user_symbol_preferences")
    op.drop_table("optimization_runs")
    op.drop_table("optimization_slices")

    with op.batch_alter_table("optimization_jobs") as batch_op:
        batch_op.add_column(sa.Column("pattern_types", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("parameter_grid", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("commission_pct", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("best_params_json", sa.JSON(none_as_null=True), nullable=True))
    jobs_table = sa.table(
        "optimization_jobs",
        sa.column("id"),
        sa.column("pattern_types", sa.JSON()),
        sa.column("parameter_grid", sa.JSON()),
        sa.column("commission_pct"),
        sa.column("best_params_json", sa.JSON(none_as_null=True)),
        sa.column("validation_json", sa.JSON(none_as_null=True)),
    )
    by_id = {r["id"]: r for r in runs}
    for job in jobs.values():
        strategies = [s for s in _json(job["strategies"]) if s in PATTERN_TYPES]
        grids = _json(job["parameter_grids"])
        mine = [s for s in slices.values() if s["job_id"] == job["id"] and s["strategy"] in PATTERN_TYPES]
        best, checks = {}, dict(_json(job["validation_json"]) or {})
        for s in mine:
            label = f"{s['symbol']}|{s['timeframe']}|{s['strategy']}"
            if s["checks_json"]:
                checks[label] = _json(s["checks_json"])
            top = by_id.get(s["best_run_id"])
            if top is not None:
                robust = by_id.get(s["robust_run_id"])
                best[label] = {
                    "params": _json(top["params"]),
                    "metrics": {m: top[m] for m in METRICS if m != "stability_score"},
                    "stability_score": top["stability_score"],
                    "robust": None if robust is None else {"params": _json(robust["params"])},
                }
        conn.execute(
            jobs_table.update()
            .where(jobs_table.c.id == job["id"])
            .values(
                pattern_types=strategies,
                parameter_grid=grids[strategies[0]] if strategies else {},
                commission_pct=job["taker_fee_pct"],
                best_params_json=best or None,
                validation_json=checks or None,
            )
        )
    with op.batch_alter_table("optimization_jobs") as batch_op:
        for name in ("pattern_types", "parameter_grid"):
            batch_op.alter_column(name, existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column("commission_pct", existing_type=sa.Double(), nullable=False)
        for name in ("strategies", "parameter_grids", "maker_fee_pct", "taker_fee_pct", "lease"):
            batch_op.drop_column(name)

    old_runs = op.create_table(
        "optimization_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=20), nullable=False),
        sa.Column("timeframe", sa.String(length=5), nullable=False),
        sa.Column("pattern_type", sa.String(length=30), nullable=False),
        sa.Column("start_date", sa.String(length=20), nullable=False),
        sa.Column("end_date", sa.String(length=20), nullable=False),
        sa.Column("rr_target", sa.Double(), nullable=False),
        sa.Column("sl_buffer_pct", sa.Double(), nullable=False),
        sa.Column("tp_method", sa.String(length=20), nullable=False),
        sa.Column("entry_method", sa.String(length=20), nullable=False),
        sa.Column("min_zone_pct", sa.Double(), nullable=False),
        sa.Column("use_overlap", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        *[c for c in _metric_columns() if c.name != "stability_score"],
        sa.Column("candles_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("results_json", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("stability_score", sa.Double(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["optimization_jobs.id"], name=op.f("fk_optimization_runs_job_id_optimization_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_optimization_runs")),
        sa.UniqueConstraint(
            "job_id", "symbol", "timeframe", "pattern_type", *PATTERN_PARAMS[:2], "tp_method", "entry_method",
            "min_zone_pct", "use_overlap", name="uq_optimization_run",
        ),
    )
    with op.batch_alter_table("optimization_runs") as batch_op:
        batch_op.create_index("idx_opt_run_job", ["job_id"], unique=False)
        batch_op.create_index("idx_opt_run_results", ["win_rate", "total_profit_pct"], unique=False)
        batch_op.create_index(
            "idx_opt_run_slice_score", ["job_id", "symbol", "timeframe", "pattern_type", "composite_score"], unique=False
        )
        batch_op.create_index("idx_opt_run_symbol_pattern", ["symbol", "pattern_type"], unique=False)
    rows = []
    for run in runs:
        s = slices[run["slice_id"]]
        if s["strategy"] not in PATTERN_TYPES:
            continue  # strategies the old schema cannot hold
        job = jobs[run["job_id"]]
        rows.append(
            {
                "id": run["id"],
                "job_id": run["job_id"],
                "symbol": s["symbol"],
                "timeframe": s["timeframe"],
                "pattern_type": s["strategy"],
                "start_date": job["start_date"],
                "end_date": job["end_date"],
                **_json(run["params"]),
                "status": "completed",
                **{m: run[m] for m in METRICS},
                "candles_fingerprint": s["candles_fingerprint"],
                "results_json": _json(run["results_json"]),
                "error_message": None,
                "created_at": _dt(s["stored_at"]),
            }
        )
    _insert(conn, old_runs, rows)

    old_prefs = op.create_table(
        "user_symbol_preferences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("symbol_id", sa.Integer(), nullable=False),
        sa.Column("notify_enabled", sa.Boolean(), nullable=False),
        sa.Column("notify_imbalance", sa.Boolean(), nullable=False),
        sa.Column("notify_order_block", sa.Boolean(), nullable=False),
        sa.Column("notify_liquidity_sweep", sa.Boolean(), nullable=False),
        sa.Column("rr_target", sa.Double(), nullable=True),
        sa.Column("sl_buffer_pct", sa.Double(), nullable=True),
        sa.Column("tp_method", sa.String(length=20), nullable=True),
        sa.Column("entry_method", sa.String(length=20), nullable=True),
        sa.Column("min_zone_pct", sa.Double(), nullable=True),
        sa.Column("use_overlap", sa.Boolean(), nullable=True),
        sa.Column("use_custom_params", sa.Boolean(), nullable=False),
        sa.Column("params_source", sa.String(length=50), nullable=True),
        sa.Column("params_updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["symbol_id"], ["symbols.id"], name=op.f("fk_user_symbol_preferences_symbol_id_symbols"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_symbol_preferences_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_symbol_preferences")),
        sa.UniqueConstraint("user_id", "symbol_id", name=op.f("uq_user_symbol_preferences_user_id")),
    )
    custom = {(s["user_id"], s["symbol_id"]): s for s in sets if s["strategy"] in PATTERN_TYPES}
    rows = []
    for pref in prefs:
        chosen = _json(pref["notify_strategies"])
        mine = custom.pop((pref["user_id"], pref["symbol_id"]), None)
        rows.append(_old_pref(pref["user_id"], pref["symbol_id"], pref["notify_enabled"], chosen, mine))
    rows.extend(_old_pref(u, s, True, None, mine) for (u, s), mine in custom.items())
    _insert(conn, old_prefs, rows)


def _old_pref(user_id, symbol_id, enabled, chosen, custom):
    params = _json(custom["params"]) if custom else {}
    return {
        "user_id": user_id,
        "symbol_id": symbol_id,
        "notify_enabled": enabled,
        **{f"notify_{p}": chosen is None or p in chosen for p in PATTERN_TYPES},
        **{name: params.get(name) for name in PATTERN_PARAMS},
        "use_custom_params": bool(custom and custom["use_custom"]),
        "params_source": (custom["params_source"][:50] if custom else None),
        "params_updated_at": _dt(custom["updated_at"]) if custom else None,
    }
