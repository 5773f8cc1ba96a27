"""parameter lifecycle: production parameter sets per slice and the change log

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 16:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "production_parameter_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=20), nullable=False),
        sa.Column("timeframe", sa.String(length=5), nullable=False),
        sa.Column("strategy", sa.String(length=30), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("regime_sets", sa.JSON(), nullable=True),
        sa.Column("restored_from", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("applied_by", sa.String(length=100), nullable=False),
        sa.Column("applied_at", sa.DateTime(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_production_parameter_sets")),
        sa.UniqueConstraint("symbol", "timeframe", "strategy", "is_active", name="uq_production_parameter_active"),
    )
    with op.batch_alter_table("production_parameter_sets") as batch_op:
        batch_op.create_index(
            "ix_production_parameter_sets_market", ["symbol", "timeframe", "strategy", "id"], unique=False
        )
    op.create_table(
        "parameter_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=20), nullable=False),
        sa.Column("timeframe", sa.String(length=5), nullable=False),
        sa.Column("strategy", sa.String(length=30), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("improvement_pct", sa.Double(), nullable=True),
        sa.Column("set_id", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parameter_changes")),
    )
    with op.batch_alter_table("parameter_changes") as batch_op:
        batch_op.create_index("ix_parameter_changes_market", ["symbol", "timeframe", "strategy", "id"], unique=False)
        batch_op.create_index("ix_parameter_changes_created", ["created_at"], unique=False)


def downgrade():
    op.drop_table("parameter_changes")
    op.drop_table("production_parameter_sets")
