"""lookahead verdicts: the guard's verdicts reused across processes by an identical check

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 06:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "lookahead_verdicts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("check_key", sa.String(length=64), nullable=False),
        sa.Column("strategy", sa.String(length=64), nullable=False),
        sa.Column("code_version", sa.String(length=16), nullable=False),
        sa.Column("candles_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("verdict", sa.JSON(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lookahead_verdicts")),
        sa.UniqueConstraint("check_key", name=op.f("uq_lookahead_verdicts_check_key")),
    )


def downgrade():
    op.drop_table("lookahead_verdicts")
