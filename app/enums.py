"""Closed sets of names used across layers, declared once (pure: standard library only).

Stored as their string values, so the database, JSON and the CLI read plain
words; comparing a member with its string is equal (``StrEnum``).
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """Lifecycle of an optimization job."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class SliceStatus(StrEnum):
    """Outcome of one (symbol, timeframe, strategy) slice of a job."""

    COMPLETED = "completed"
    FAILED = "failed"


class ValidationMode(StrEnum):
    """Out-of-sample validation a job runs on every slice."""

    NONE = "none"
    WALK_FORWARD = "walk_forward"


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """Return the string values of an enum, in declaration order (for choices and messages)."""
    return tuple(member.value for member in enum)


class ParamSource(StrEnum):
    """Where a parameter set in use came from (production sets: job, run, manual; resolution adds user, default)."""

    JOB = "job"
    RUN = "run"
    MANUAL = "manual"
    DEFAULT = "default"
    USER = "user"
    PRODUCTION = "production"


class ParamAction(StrEnum):
    """What a change-log entry records."""

    APPLIED = "applied"
    PROPOSED = "proposed"
    SKIPPED = "skipped"
    ROLLBACK = "rollback"
