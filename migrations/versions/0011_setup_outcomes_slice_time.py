"""setup outcomes: the slice index also orders by detection time, so the tracker's one-position seeds are seeks

The tracker's seed of a one-position slice is its newest closed outcome
detected before the oldest followed one; with (symbol, timeframe, strategy,
state) only, each seed read and sorted every closed outcome of its slice.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 12:50:00
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

SLICE = ["symbol", "timeframe", "strategy", "state"]


def upgrade():
    op.drop_index("ix_setup_outcomes_slice", table_name="setup_outcomes")
    op.create_index("ix_setup_outcomes_slice", "setup_outcomes", [*SLICE, "detected_at"])


def downgrade():
    op.drop_index("ix_setup_outcomes_slice", table_name="setup_outcomes")
    op.create_index("ix_setup_outcomes_slice", "setup_outcomes", SLICE)
