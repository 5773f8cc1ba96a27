"""candle_series: per (symbol, timeframe) coverage summary, so coverage never reads every candle

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 10:00:00

The table is filled from the stored candles (count, first, last, gaps, missing
bars) so an existing database shows the same coverage as before.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Frozen copy of app.core.candles.TIMEFRAME_MS (migrations never import app code).
TIMEFRAME_MS = {
    "1m": 60_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}


def upgrade():
    table = op.create_table(
        "candle_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("symbol_id", sa.Integer(), nullable=False),
        sa.Column("timeframe", sa.String(length=5), nullable=False),
        sa.Column("first_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("last_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("candle_count", sa.Integer(), nullable=False),
        sa.Column("gaps", sa.Integer(), nullable=False),
        sa.Column("missing_bars", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["symbol_id"], ["symbols.id"], name=op.f("fk_candle_series_symbol_id_symbols"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_candle_series")),
        sa.UniqueConstraint("symbol_id", "timeframe", name=op.f("uq_candle_series_symbol_id")),
    )
    step_sql = "CASE timeframe " + " ".join(f"WHEN '{tf}' THEN {ms}" for tf, ms in TIMEFRAME_MS.items()) + " ELSE 0 END"
    rows = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT symbol_id, timeframe, MIN(timestamp), MAX(timestamp), COUNT(*),"
                " SUM(CASE WHEN step > 0 AND diff > step THEN 1 ELSE 0 END)"
                " FROM (SELECT symbol_id, timeframe, timestamp, "
                + step_sql
                + " AS step, timestamp - LAG(timestamp) OVER (PARTITION BY symbol_id, timeframe ORDER BY timestamp)"
                " AS diff FROM candles) AS t GROUP BY symbol_id, timeframe"
            )
        )
        .all()
    )
    series = []
    for symbol_id, timeframe, first, last, count, gaps in rows:
        ms = TIMEFRAME_MS.get(timeframe, 0)
        missing = max((int(last) - int(first)) // ms + 1 - int(count), 0) if ms else 0
        series.append(
            {
                "symbol_id": symbol_id,
                "timeframe": timeframe,
                "first_timestamp": int(first),
                "last_timestamp": int(last),
                "candle_count": int(count),
                "gaps": int(gaps or 0),
                "missing_bars": missing,
            }
        )
    if series:
        op.bulk_insert(table, series)


def downgrade():
    op.drop_table("candle_series")
