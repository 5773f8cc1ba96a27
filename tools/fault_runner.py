#!/usr/bin/env python
"""The runner process of ``tools/fault_injection.py``: ``run_optimization.py``'s ``main()`` plus one pause point.

Usage: ``fault_runner.py SPEC RUN_OPTIMIZATION_ARGS...``, SPEC one of

- ``none``: run as is;
- ``after-store:K``: pause right after the K-th slice store of this process
  committed (between slices: nothing of the next slice is written yet);
- ``in-store:K:POINT``: pause inside the K-th slice store transaction, just
  before the runner executes POINT: ``slice`` (the slice row's INSERT; the
  job's counters are already updated under the lease), ``runs`` (the bulk
  INSERT of the slice's runs), ``best`` (the UPDATE that links the best runs)
  or ``commit`` (the COMMIT itself).

At the point the process writes ``FAULT-POINT <SPEC> <slice label>`` on stderr and waits
for a line on stdin; ``fault_injection.py`` SIGKILLs it meanwhile (or, for a
takeover, releases it). Why a pause and not a timer: a kill then lands
exactly where it claims to, with the store's uncommitted writes really in
flight, on any machine speed, instead of hoping a random offset hits a
few-millisecond window.

Nothing in ``app/`` knows about this: the hooks are SQLAlchemy events
registered here, from outside, on statements the runner executes anyway
(matched by their table), plus a wrapper around ``app.services.bulk.insert_rows``
for the runs' bulk insert (it writes through the DBAPI cursor, which those
events do not see), and the code that runs is the cron script's own
``main()``, unchanged.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

MARKER = "FAULT-POINT"
STORE_POINTS = {
    "slice": re.compile(r"^\s*INSERT INTO [`\"]?optimization_slices\b", re.IGNORECASE),
    "best": re.compile(r"^\s*UPDATE [`\"]?optimization_slices\b", re.IGNORECASE),
}


class PausePoint:
    """Count the slice stores of this process and pause at the one point SPEC names."""

    def __init__(self, spec: str):
        self.spec = spec
        kind, *rest = spec.split(":")
        self.kind = kind
        self.store = int(rest[0]) if rest else 0
        self.point = rest[1] if len(rest) > 1 else None
        if kind not in ("none", "after-store", "in-store") or (
            kind == "in-store" and self.point not in (*STORE_POINTS, "runs", "commit")
        ):
            raise SystemExit(f"fault_runner.py: unknown SPEC '{spec}'")
        self.stores = 0  # slice stores begun in this process
        self.in_store = False
        self.label = ""  # the slice of the store in progress (or just committed)

    def before_statement(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if STORE_POINTS["slice"].match(statement):
            self.stores += 1
            self.in_store = True
            row = context.compiled_parameters[0]
            self.label = f"{row['symbol']}|{row['timeframe']}|{row['strategy']}"
        armed = self.in_store and self.kind == "in-store" and self.stores == self.store
        if armed and self.point in STORE_POINTS and STORE_POINTS[self.point].match(statement):
            self.pause()

    def before_bulk_insert(self, table_name: str) -> None:
        # The runs go through the DBAPI cursor (app.services.bulk), which SQLAlchemy's events do not see.
        armed = self.in_store and self.kind == "in-store" and self.stores == self.store
        if armed and self.point == "runs" and table_name == "optimization_runs":
            self.pause()

    def before_commit(self, conn) -> None:
        if self.in_store and self.kind == "in-store" and self.point == "commit" and self.stores == self.store:
            self.pause()

    def after_commit(self, session) -> None:
        if self.in_store:
            self.in_store = False
            if self.kind == "after-store" and self.stores == self.store:
                self.pause()

    def pause(self) -> None:
        sys.stderr.write(f"{MARKER} {self.spec} {self.label}\n")
        sys.stderr.flush()
        sys.stdin.readline()  # until released (or killed)

    def install(self) -> None:
        from app.services import bulk

        insert_rows = bulk.insert_rows

        def paused_insert_rows(table, columns, rows):
            self.before_bulk_insert(table.name)
            return insert_rows(table, columns=columns, rows=rows)

        bulk.insert_rows = paused_insert_rows  # before the runner imports it (main() imports it later)
        event.listen(Engine, "before_cursor_execute", self.before_statement)
        event.listen(Engine, "commit", self.before_commit)
        event.listen(Session, "after_commit", self.after_commit)


def main(argv: list[str]) -> int:
    if not argv:
        raise SystemExit(__doc__.split("\n\n")[1])
    PausePoint(argv[0]).install()
    from scripts import run_optimization

    return run_optimization.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
