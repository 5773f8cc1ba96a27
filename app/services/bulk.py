"""Bulk inserts through the driver's ``executemany``: a Core statement, rows as ready tuples.

SQLAlchemy's executemany processes every bound value of every row in Python
(type processors, parameter dicts); at tens of thousands of rows per second
that costs more than the database itself. Here the Core statement is compiled
once for the session's dialect and the caller's tuples go straight to the
DBAPI cursor of the session's connection (same transaction): sqlite3 binds
them natively, PyMySQL folds them into multi-row ``INSERT ... VALUES``
statements. Callers pass values the driver accepts as they are (numbers,
strings, None; JSON columns as JSON text).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, insert

from app.extensions import db


def insert_rows(table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table`` in the session's transaction; return the count."""
    if not rows:
        return 0
    compiled = insert(table).compile(dialect=db.session.get_bind().dialect, column_keys=list(columns))
    if compiled.positiontup is None:  # a named paramstyle (PyMySQL's pyformat): one mapping per row
        params: Sequence[Any] = [dict(zip(columns, row, strict=True)) for row in rows]
    elif list(compiled.positiontup) == list(columns):
        params = rows
    else:
        raise RuntimeError(f"bulk insert: unexpected parameter order {compiled.positiontup!r}")
    cursor = db.session.connection().connection.cursor()
    try:
        cursor.executemany(compiled.string, params)
    finally:
        cursor.close()
    return len(rows)
