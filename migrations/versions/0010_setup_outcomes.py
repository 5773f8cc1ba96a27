"""setup outcomes: every published setup followed to its trade outcome, with the set that produced it

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 08:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "setup_outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("setup_kind", sa.String(length=10), nullable=False),
        sa.Column("setup_id", sa.Integer(), nullable=False),
        sa.Column("symbol_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=20), nullable=False),
        sa.Column("timeframe", sa.String(length=5), nullable=False),
        sa.Column("strategy", sa.String(length=30), nullable=False),
        sa.Column("direction", sa.Integer(), nullable=False),
        sa.Column("detected_at", sa.DateTime(), nullable=False),
        sa.Column("params_source", sa.String(length=20), nullable=False),
        sa.Column("parameter_set_id", sa.Integer(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("costs", sa.JSON(), nullable=False),
        sa.Column("entry_order", sa.String(length=10), nullable=False),
        sa.Column("max_wait_bars", sa.Integer(), nullable=False),
        sa.Column("entry", sa.Double(), nullable=True),
        sa.Column("stop", sa.Double(), nullable=True),
        sa.Column("target", sa.Double(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("filled_at", sa.DateTime(), nullable=True),
        sa.Column("exited_at", sa.DateTime(), nullable=True),
        sa.Column("exit_price", sa.Double(), nullable=True),
        sa.Column("exit_reason", sa.String(length=20), nullable=True),
        sa.Column("r_multiple", sa.Double(), nullable=True),
        sa.Column("bars_held", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["symbol_id"], ["symbols.id"], name=op.f("fk_setup_outcomes_symbol_id_symbols"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_setup_outcomes")),
    )
    op.create_index("uq_setup_outcomes_setup", "setup_outcomes", ["setup_kind", "setup_id"], unique=True)
    op.create_index("ix_setup_outcomes_slice", "setup_outcomes", ["symbol", "timeframe", "strategy", "state"])
    op.create_index("ix_setup_outcomes_set", "setup_outcomes", ["parameter_set_id", "detected_at"])


def downgrade():
    op.drop_index("ix_setup_outcomes_set", table_name="setup_outcomes")
    op.drop_index("ix_setup_outcomes_slice", table_name="setup_outcomes")
    op.drop_index("uq_setup_outcomes_setup", table_name="setup_outcomes")
    op.drop_table("setup_outcomes")
