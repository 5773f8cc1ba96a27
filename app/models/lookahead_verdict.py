"""Lookahead guard verdicts kept across processes, keyed by everything the verdict depends on.

A verdict (``app.evaluation.slice_eval.lookahead_verdict``) is a pure function
of the strategy's code, the guard's own code and settings and the candles it
checked; ``check_key`` hashes all of them (``lookahead_check_key``), so a row
is only ever reused for an identical check. A job still copies the verdict it
used into its own ``validation_json``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models._time import utcnow


class LookaheadVerdict(db.Model):
    """One lookahead check's verdict (ok or violated; a check that crashed is never stored)."""

    __tablename__ = "lookahead_verdicts"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 (hex) of the check's inputs: strategy and guard code, settings, the candles' fingerprint.
    check_key: Mapped[str] = mapped_column(String(64), unique=True)
    # For reading the table by eye: what the key was made of (the key alone decides reuse).
    strategy: Mapped[str] = mapped_column(String(64))
    code_version: Mapped[str] = mapped_column(String(16))
    candles_fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    verdict: Mapped[dict[str, Any]] = mapped_column(JSON)
    job_id: Mapped[int | None] = mapped_column(Integer, default=None)  # the job that ran the check (no FK: jobs go)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
