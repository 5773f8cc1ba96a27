"""signals: live signals of the indicator strategies with their trade levels

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 20:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "signals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("symbol_id", sa.Integer(), nullable=False),
        sa.Column("timeframe", sa.String(length=5), nullable=False),
        sa.Column("strategy", sa.String(length=30), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("signal_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("entry", sa.Double(), nullable=False),
        sa.Column("stop_loss", sa.Double(), nullable=False),
        sa.Column("tp1", sa.Double(), nullable=False),
        sa.Column("tp2", sa.Double(), nullable=False),
        sa.Column("tp3", sa.Double(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["symbol_id"], ["symbols.id"], name=op.f("fk_signals_symbol_id_symbols"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signals")),
    )
    with op.batch_alter_table("signals") as batch_op:
        batch_op.create_index(
            "uq_signals_identity", ["symbol_id", "timeframe", "strategy", "direction", "signal_at"], unique=True
        )
        batch_op.create_index("ix_signals_status_signal_at", ["status", "signal_at"], unique=False)


def downgrade():
    op.drop_table("signals")
