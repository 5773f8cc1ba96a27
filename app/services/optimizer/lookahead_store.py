"""The lookahead guard's verdicts across processes: look one up by its check's key, record new ones.

A verdict is reused only for an identical check (``slice_eval.lookahead_check_key``:
strategy and guard code, settings, candles); a violation is stored like a
pass, so a leaky strategy fails every job that reuses its verdict. A check
that crashed ("not checked") is never stored: the next job runs it again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select

from app.extensions import db
from app.models import LookaheadVerdict
from app.models._time import utcnow

STORED_STATUSES = ("ok", "violated")


def find_verdict(check_key: str) -> dict[str, Any] | None:
    """Return the stored verdict of the check ``check_key`` with where it came from (``reused``), or None."""
    row = db.session.execute(
        select(LookaheadVerdict.verdict, LookaheadVerdict.job_id, LookaheadVerdict.created_at).where(
            LookaheadVerdict.check_key == check_key
        )
    ).first()
    if row is None:
        return None
    verdict, job_id, created_at = row
    return {**verdict, "reused": {"job_id": job_id, "checked_at": created_at.isoformat(timespec="seconds")}}


def record_verdicts(entries: list[tuple[str, str, str, dict[str, Any]]], *, job_id: int) -> int:
    """Store (check key, strategy, candles fingerprint, verdict) entries in the caller's transaction; a key
    already stored (another runner checked the same thing meanwhile) is left as it is. Returns the count given."""
    rows = [
        {
            "check_key": check_key,
            "strategy": strategy,
            "code_version": verdict.get("code_version", ""),
            "candles_fingerprint": fingerprint,
            "status": verdict["status"],
            "verdict": {k: v for k, v in verdict.items() if k != "reused"},
            "job_id": job_id,
            "created_at": utcnow(),
        }
        for check_key, strategy, fingerprint, verdict in entries
        if verdict["status"] in STORED_STATUSES
    ]
    if rows:
        # Same outcome whoever wins a race (equal keys, equal checks): keep the first row.
        statement = insert(LookaheadVerdict).prefix_with("OR IGNORE", dialect="sqlite")
        statement = statement.prefix_with("IGNORE", dialect="mysql").prefix_with("IGNORE", dialect="mariadb")
        db.session.execute(statement, rows)
    return len(rows)
