"""What a scan needs of a slice's stored setups, read once: identities, the zones followed, the pending signals.

A scan publishes only detections not stored yet (identity: direction and
detection candle, ``StoredIdentities``). The pattern scanner also updates
the statuses of the zones still followed (not invalidated or expired) and
checks a new zone's overlap against them (``StoredZones``); the signal
scanner also enters the pending signals (``StoredSignals``). Each reads what
it needs on its first scan and keeps it as arrays. A live scan starts a new
one every time; the history replay keeps one per slice for the whole replay,
its scans keeping it current (``add``, ``set_status``, ``published``):
during a replay nobody else writes the slice's setups
(``replay._rows_kept``), so the arrays are the stored rows without reading
them again at every step.

The zones followed as of ``until`` (the replay) are those detected by then
and not closed by then (still open, or closed after ``until``: a replay run
again finds rows a later step stored or closed). ``until`` never decreases
from one scan to the next (the replay's steps are in time order): a zone
closed by then is followed by no later scan and leaves the arrays.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import or_, select

from app.core.patterns import STATUS_NAMES
from app.core.patterns.base import DIRECTION_CODES, STATUS_EXPIRED, STATUS_INVALIDATED
from app.extensions import db
from app.models import Pattern, Signal

FINAL_STATUSES = (STATUS_NAMES[STATUS_INVALIDATED], STATUS_NAMES[STATUS_EXPIRED])
STATUS_CODES = {name: code for code, name in enumerate(STATUS_NAMES)}
COLUMNS = ("direction", "zone_low", "zone_high", "detected_ns", "status", "changed_ns")  # one row per zone
NEVER = np.iinfo(np.int64).min  # status_changed_at NULL: compares as "not after" any time, like SQL's NULL > t


def naive_utc(stamps: pd.DatetimeIndex) -> list[datetime]:
    """Candle open times as the naive UTC datetimes the tables store."""
    return list(stamps.tz_convert("UTC").tz_localize(None).to_pydatetime())


def naive_ns(when: list[datetime]) -> np.ndarray:
    """Nanoseconds since the epoch of naive UTC datetimes (the candle index's ``asi8``)."""
    return pd.DatetimeIndex(when).as_unit("ns").asi8


class StoredIdentities:
    """The identities of a slice's stored setups: per direction code, the detection candles (ns), sorted."""

    def __init__(self, codes: dict[str, int]) -> None:
        self.codes = codes  # direction name -> code
        self.stamps = {code: np.empty(0, np.int64) for code in codes.values()}

    def load(self, rows: list[tuple[str, datetime]]) -> None:
        """Add stored (direction name, detection candle) rows."""
        for name, code in self.codes.items():
            self.stamps[code] = np.union1d(
                self.stamps[code], naive_ns([at for direction, at in rows if direction == name])
            )

    def add(self, direction: np.ndarray, detected_ns: np.ndarray) -> None:
        """Add the identities (direction codes, detection candles ns) of newly stored setups."""
        for code in self.stamps:
            self.stamps[code] = np.union1d(self.stamps[code], detected_ns[direction == code])

    def contains(self, direction: np.ndarray, detected_ns: np.ndarray) -> np.ndarray:
        """Whether each (direction code, detection candle ns) is stored: one searchsorted per direction."""
        stored = np.zeros(len(direction), np.bool_)
        for code, stamps in self.stamps.items():
            mine = np.flatnonzero(direction == code)
            at = np.searchsorted(stamps, detected_ns[mine])
            inside = at < len(stamps)
            stored[mine[inside]] = stamps[at[inside]] == detected_ns[mine[inside]]
        return stored


class StoredZones:
    """The stored identities of one slice's patterns, and its followed zones as arrays (see the module doc)."""

    def __init__(self) -> None:
        self.loaded = False
        self.until_ns: int | None = None
        self.identities = StoredIdentities(DIRECTION_CODES)
        self.patterns: list[Pattern] = []  # in id order; position p is row p of the arrays
        self.direction = np.empty(0, np.int8)
        self.zone_low = np.empty(0)
        self.zone_high = np.empty(0)
        self.detected_ns = np.empty(0, np.int64)
        self.status = np.empty(0, np.int8)
        self.changed_ns = np.empty(0, np.int64)

    def load(self, slice_filter: tuple, until: datetime | None) -> None:
        """Read the slice's identities and the zones a scan as of ``until`` (or a later one) may follow; once."""
        if self.loaded:
            return
        self.loaded = True
        self.identities.load(
            db.session.execute(select(Pattern.direction, Pattern.detected_at).where(*slice_filter)).all()
        )
        still_open = Pattern.status.not_in(FINAL_STATUSES)
        followed = still_open if until is None else or_(still_open, Pattern.status_changed_at > until)
        self._append(list(db.session.scalars(select(Pattern).where(*slice_filter, followed).order_by(Pattern.id))))

    def followed(self, until: datetime | None) -> np.ndarray:
        """The positions of the zones followed as of ``until`` (None: every open zone), in id order.

        With ``until``, first drops the zones closed by then (no later scan follows them); raises ``ValueError``
        when ``until`` is before the previous scan's.
        """
        final = (self.status == STATUS_INVALIDATED) | (self.status == STATUS_EXPIRED)
        if until is None:
            return np.flatnonzero(~final)
        until_ns = int(naive_ns([until])[0])
        if self.until_ns is not None and until_ns < self.until_ns:
            raise ValueError(f"scans sharing stored zones go forward in time: {until} is before the previous scan")
        self.until_ns = until_ns
        closed = final & (self.changed_ns <= until_ns)
        if closed.any():
            self._keep(~closed)
            final = final[~closed]
        return np.flatnonzero((self.detected_ns <= until_ns) & (~final | (self.changed_ns > until_ns)))

    def add(self, patterns: list[Pattern]) -> np.ndarray:
        """Add newly stored patterns (flushed, ids above every held one); return their positions."""
        start = len(self.patterns)
        self._append(patterns)
        self.identities.add(self.direction[start:], self.detected_ns[start:])
        return np.arange(start, len(self.patterns))

    def set_status(self, position: int, status: str, *, changed_ns: int) -> None:
        """Move a zone to ``status`` as of the candle opened at ``changed_ns``: its row and the arrays."""
        pattern = self.patterns[position]
        pattern.status, pattern.status_changed_at = status, pd.Timestamp(changed_ns).to_pydatetime()
        self.status[position] = STATUS_CODES[status]
        self.changed_ns[position] = changed_ns

    def _append(self, patterns: list[Pattern]) -> None:
        if not patterns:
            return
        self.patterns.extend(patterns)
        changed = [p.status_changed_at for p in patterns]
        changed_ns = np.full(len(patterns), NEVER, np.int64)
        known = [i for i, at in enumerate(changed) if at is not None]
        changed_ns[known] = naive_ns([changed[i] for i in known])
        columns = {
            "direction": np.array([DIRECTION_CODES[p.direction] for p in patterns], np.int8),
            "zone_low": np.array([p.zone_low for p in patterns], np.float64),
            "zone_high": np.array([p.zone_high for p in patterns], np.float64),
            "detected_ns": naive_ns([p.detected_at for p in patterns]),
            "status": np.array([STATUS_CODES[p.status] for p in patterns], np.int8),
            "changed_ns": changed_ns,
        }
        for name in COLUMNS:
            setattr(self, name, np.concatenate([getattr(self, name), columns[name]]))

    def _keep(self, mask: np.ndarray) -> None:
        self.patterns = [p for p, keep in zip(self.patterns, mask.tolist(), strict=True) if keep]
        for name in COLUMNS:
            setattr(self, name, getattr(self, name)[mask])


class StoredSignals:
    """The stored identities of one slice's signals and its pending signals by identity (see the module doc)."""

    def __init__(self, codes: dict[str, int]) -> None:
        self.loaded = False
        self.identities = StoredIdentities(codes)
        self.pending: dict[tuple[int, int], Signal] = {}  # (direction code, signal candle ns) -> the row

    def load(self, slice_filter: tuple) -> None:
        """Read the slice's identities and pending signals; once."""
        if self.loaded:
            return
        self.loaded = True
        self.identities.load(db.session.execute(select(Signal.direction, Signal.signal_at).where(*slice_filter)).all())
        for signal in db.session.scalars(select(Signal).where(*slice_filter, Signal.status == "pending")):
            self.pending[(self.identities.codes[signal.direction], int(naive_ns([signal.signal_at])[0]))] = signal

    def published(self, signals: list[Signal]) -> None:
        """Take in what a scan stored or entered: new identities, pending signals added or entered."""
        if not signals:
            return
        codes = np.array([self.identities.codes[s.direction] for s in signals], np.int8)
        stamps = naive_ns([s.signal_at for s in signals])
        self.identities.add(codes, stamps)
        for key, signal in zip(zip(codes.tolist(), stamps.tolist(), strict=True), signals, strict=True):
            if signal.status == "pending":
                self.pending[key] = signal
            else:
                self.pending.pop(key, None)
