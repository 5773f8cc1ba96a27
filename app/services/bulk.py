"""Bulk inserts through the DBAPI cursor: a Core statement, rows as ready tuples.

SQLAlchemy's executemany processes every bound value of every row in Python
(type processors, parameter dicts); at tens of thousands of rows per second
that costs more than the database itself. Here the Core statement is compiled
once for the session's dialect and the caller's tuples go straight to the
cursor of the session's connection (same transaction):

- sqlite3 (and any positional driver) binds them natively in ``executemany``;
- PyMySQL would escape each value through several Python calls per value and
  fold the rows into multi-row ``INSERT ... VALUES`` statements; the same
  statements are built here with one literal per value (numbers exactly as
  PyMySQL writes them, strings through the connection's own escaping),
  a few times faster for the metric-heavy optimizer rows.

Callers pass values the driver accepts as they are (int, float, str, None;
JSON columns as JSON text).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import Table, insert

from app.extensions import db

MAX_STATEMENT_BYTES = 1_000_000  # under MariaDB's default max_allowed_packet (16 MB) by far; PyMySQL's own limit


def insert_rows(table: Table, *, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table`` in the session's transaction; return the count."""
    if not rows:
        return 0
    dialect = db.session.get_bind().dialect
    cursor = db.session.connection().connection.cursor()
    try:
        if dialect.name in ("mysql", "mariadb") and dialect.driver == "pymysql":
            prefix = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
            for statement in _mysql_statements(prefix, rows, cursor.connection.escape):
                cursor.execute(statement)
            return len(rows)
        compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
        if compiled.positiontup is None:  # a named paramstyle: one mapping per row
            params: Sequence[Any] = [dict(zip(columns, row, strict=True)) for row in rows]
        elif list(compiled.positiontup) == list(columns):
            params = rows
        else:
            raise RuntimeError(f"bulk insert: unexpected parameter order {compiled.positiontup!r}")
        cursor.executemany(compiled.string, params)
    finally:
        cursor.close()
    return len(rows)


def _mysql_statements(prefix: str, rows: Sequence[Sequence[Any]], escape: Callable[[str], str]) -> Iterator[str]:
    """Yield ``prefix`` + value lists of at most MAX_STATEMENT_BYTES (roughly: characters) each."""
    parts: list[str] = []
    size = len(prefix)
    for row in rows:
        values = "(" + ",".join([_literal(value, escape) for value in row]) + ")"
        if parts and size + len(values) + 1 > MAX_STATEMENT_BYTES:
            yield prefix + ",".join(parts)
            parts, size = [], len(prefix)
        parts.append(values)
        size += len(values) + 1
    if parts:
        yield prefix + ",".join(parts)


def _literal(value: Any, escape: Callable[[str], str]) -> str:
    """One SQL literal, as PyMySQL writes it (floats with an exponent so MySQL reads a DOUBLE, not a DECIMAL)."""
    kind = type(value)
    if kind is float:
        text = repr(value)
        if text in ("inf", "-inf", "nan"):
            raise ValueError(f"{text} can not be stored in MySQL")
        return text if "e" in text else text + "e0"
    if kind is int:
        return str(value)
    if value is None:
        return "NULL"
    if kind is str:
        return escape(value)
    if kind is bool:
        return "1" if value else "0"
    raise TypeError(f"bulk insert: no MySQL literal for {kind.__name__} values")
