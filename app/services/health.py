"""Health of the app's database: reachable, and its schema at the Alembic head of this code.

``/healthz`` answers from ``check_health``. A schema that is missing, was built
without migrations (``db.create_all``), lags behind the migration scripts or
carries a revision this code does not know is unhealthy: the pages would fail
with 500s, so a load balancer or an operator should hear it first.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from flask import current_app
from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db

UPGRADE_HINT = "run `flask db upgrade`"


@lru_cache(maxsize=8)
def _script_directory(directory: str) -> ScriptDirectory:
    # Migration scripts do not change while the process runs: parse them once.
    return ScriptDirectory(directory)


def migration_heads() -> set[str]:
    """Return the head revision(s) of this code's migration scripts."""
    return set(_script_directory(current_app.extensions["migrate"].directory).get_heads())


def check_health() -> tuple[bool, dict[str, Any]]:
    """Return (healthy, report); the report is ``{"status", "database", "schema", ...}`` for ``/healthz``."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        db.session.rollback()
        return False, {"status": "error", "database": "unreachable", "schema": "unknown", "detail": type(exc).__name__}
    schema, detail, revision = _schema_state()
    report: dict[str, Any] = {"status": "ok" if schema == "ok" else "error", "database": "ok", "schema": schema}
    if revision:
        report["revision"] = revision
    if detail:
        report["detail"] = detail
    return schema == "ok", report


def _schema_state() -> tuple[str, str | None, str | None]:
    heads = migration_heads()
    head_text = ", ".join(sorted(heads))
    try:
        versions = set(db.session.scalars(text("SELECT version_num FROM alembic_version")))
    except SQLAlchemyError:
        db.session.rollback()
        if not inspect(db.engine).get_table_names():
            return "missing", f"the database has no tables; {UPGRADE_HINT}", None
        return "unversioned", f"tables exist but no alembic_version (not built by migrations); {UPGRADE_HINT}", None
    current = ", ".join(sorted(versions))
    if versions == heads:
        return "ok", None, current
    if not versions:
        return "missing", f"no migration applied; {UPGRADE_HINT}", None
    scripts = _script_directory(current_app.extensions["migrate"].directory)
    unknown = sorted(v for v in versions if _revision_or_none(scripts, v) is None)
    if unknown:
        detail = f"revision {', '.join(unknown)} is not among this code's migrations (head {head_text})"
        return "unknown", detail, current
    return "behind", f"at revision {current}, migrations head is {head_text}; {UPGRADE_HINT}", current


def _revision_or_none(scripts: ScriptDirectory, revision: str):
    try:
        return scripts.get_revision(revision)
    except (CommandError, RevisionError):  # unknown or malformed revision id
        return None
