"""Replay a slice's stored history as if it were live: the scanners, step by step, with the sets of that time.

From ``start`` to ``end`` (default: the newest stored candle), every
``step``-th stored candle (and the last one) ends a step; a step runs the
production scanners (``pattern_scanner.scan_slice`` /
``signal_scanner.scan_signals``) with ``until`` = that candle's open time, so
they see only the candles opened up to then and trade the production set
applied by then (``parameter_sets.row_as_of``; none: the defaults), each
setup with the parameters of the regime at its own detection candle
(docs/outcomes.md#trading-by-regime). The tracker follows each published setup exactly as
it would have live.

Only the steps that can change what is stored are scanned (docs/outcomes.md#history-replay):

- the first step (it publishes the history before ``start``) and the last;
- a step whose scan could publish a setup (``PublishWatch``): detection is
  causal (prefix invariance is tested for every strategy), so the setups a
  scan of the candles up to step end ``k`` finds are those of one detection
  over the whole history with index <= ``k``, for the parameters that scan
  resolves (one detection per parameter set met); a step is scanned if one
  of them is not stored (a signal: with usable levels, or on candle ``k``
  itself, pending), or a stored signal is pending (it enters);
- for a strategy trading one position at a time (market orders), also the
  step before such a step when that step's scan finds a setup not stored
  detected by the end of the step before (``PublishWatch.back_dated``:
  published after a set change, the new set's own history): its
  one-position walk meets it with the outcomes a step-by-step replay still
  followed then. Setups detected after that only follow the trades before
  them, which come out the same from any earlier follow.

A step in between only follows and updates statuses, and both come out the
same later (the engine and ``zone_statuses`` look forward from the detection
bar only; candles in pieces = all at once), so the stored patterns, signals
and outcomes are those of a scan at every step (tested for every strategy,
across a set change, against scans at every step). Only the counts of
intermediate changes (``outcomes_changed``) and ``updated_at`` differ.

Idempotent: the scanners store a setup once (identity: slice, direction,
detection candle) and a closed outcome is final, so running a replay again
leaves the same rows (only ``updated_at`` of outcomes still open at the end
moves: an earlier step marks them at its own close, the last step back at
the newest one).

Bad input (unknown symbol, timeframe or strategy, a bad date, ``step`` < 1,
``end`` before ``start``) raises ``ValidationError`` / ``NotFoundError``
before anything is written.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import event

from app.core.costs import TAKER
from app.core.patterns import get_detector
from app.core.regimes import candle_regimes
from app.errors import ValidationError
from app.evaluation.backtest import market_arrays
from app.extensions import db
from app.services.candles.candle_store import check_timeframe, find_symbol, load_candles
from app.services.optimizer.jobs import check_date
from app.services.params.production_params import ProductionTimeline
from app.services.scanning import pattern_scanner, signal_scanner
from app.services.scanning.stored_setups import StoredSignals, StoredZones, naive_utc
from app.strategies import PATTERN, get_strategy, strategy_names


@dataclass
class ReplayReport:
    """What one replay did, per strategy: the steps run and the outcomes the scanners changed."""

    symbol: str
    timeframe: str
    strategies: list[str]
    start: str
    end: str
    steps: int = 0
    candles: int = 0
    scans: dict[str, int] = field(default_factory=dict)
    new_setups: dict[str, int] = field(default_factory=dict)
    outcomes_changed: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _date(value: Any, name: str) -> pd.Timestamp | None:
    return None if value is None else check_date(name, value)


def _strategies(names: list[str] | None) -> list[str]:
    chosen = list(names) if names else strategy_names()
    for name in chosen:
        try:
            get_strategy(name)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
    return chosen


def step_ends(stamps: pd.DatetimeIndex, *, start: pd.Timestamp, end: pd.Timestamp, step: int) -> pd.DatetimeIndex:
    """Return the open times that end a step: every ``step``-th candle from ``start`` to ``end``, and the last."""
    window = stamps[(stamps >= start) & (stamps <= end)]
    if window.empty:
        return window
    ends = window[step - 1 :: step]
    return ends if len(ends) and ends[-1] == window[-1] else ends.append(window[-1:])


def _scan(name: str, **scan: Any) -> tuple[int, int]:
    """One production scan of one strategy (``scan``: the scanner's keywords); return (new setups, outcomes changed)."""
    if get_strategy(name).kind == PATTERN:
        new, scanned = pattern_scanner.scan_slice(get_detector(name), **scan)
        return len(new), scanned.outcomes_changed
    scanned = signal_scanner.scan_signals(strategy=name, **scan)
    return sum(scanned.new_by_direction.values()), scanned.outcomes_changed


class PublishWatch:
    """Whether a strategy's scan as of a step could publish anything: its setups detected once over the whole history.

    Detection is causal (prefix invariance is tested for every strategy): the
    setups a scan of the candles up to position ``k`` finds are the whole
    history's with index <= ``k``, for the same parameters. The parameters are
    the ones the scan resolves then (the set applied by ``until``; with regime
    sets, each setup those of its own candle's regime, itself causal); each
    set of parameters is detected once.
    A pattern scan publishes only a pattern found by then and not stored; a
    signal scan only a usable signal not stored, one on candle ``k`` itself
    (pending, its levels indicative), or a stored pending signal entering.
    What is stored is what the replay's scans keep (``stored``: their
    ``StoredZones`` / ``StoredSignals``, current after each scan; the first
    step is always scanned, so it is loaded before the watch is asked).
    """

    def __init__(
        self,
        name: str,
        *,
        history: pd.DataFrame,
        stored: StoredZones | StoredSignals,
        timeline: ProductionTimeline,
    ) -> None:
        self.name, self.timeline = name, timeline
        self.kind = get_strategy(name).kind
        self.history, self.stored = history, stored
        self.stamps = history.index.as_unit("ns").asi8
        self.regimes = candle_regimes(history).codes  # causal: every scan's prefix is exact
        self.market = market_arrays(history) if self.kind != PATTERN else None
        self.detected: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def may_publish(self, k: int, *, until: datetime) -> bool:
        index, usable, fresh = self._fresh(until)
        if self.kind == PATTERN:
            return bool(np.any(fresh & (index <= k)))
        return bool(self.stored.pending) or bool(np.any(fresh & ((usable & (index < k)) | (index == k))))

    def back_dated(self, k: int, *, until: datetime) -> bool:
        """Whether a scan as of ``until`` finds a setup not stored that was detected at position ``k`` or before (a
        set changed since: the new set's own history), which a scan then could not have published."""
        index, usable, fresh = self._fresh(until)
        publishable = fresh if self.kind == PATTERN else fresh & usable  # a signal before the newest candle: usable
        return bool(np.any(publishable & (index <= k)))

    def _fresh(self, until: datetime) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(index, usable levels, not stored) of the setups a scan as of ``until`` finds over the whole history."""
        by_regime = self.timeline.by_regime(until)
        key = json.dumps([(r.params, g.labels) for r, g in by_regime], sort_keys=True, default=str)
        if key not in self.detected:
            self.detected[key] = self._detect_by_regime(by_regime)
        index, usable, direction = self.detected[key]
        return index, usable, ~self.stored.identities.contains(direction, self.stamps[index])

    def _detect_by_regime(self, by_regime) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What the scanners publish over the whole history: per parameter set, its detections at the bars whose
        regime trades it (docs/outcomes.md#trading-by-regime)."""
        parts = []
        for resolved, group in by_regime:
            detected = self._detect(resolved.params)
            if len(by_regime) > 1:
                chosen = group.trades_at(self.regimes, detected[0])
                detected = tuple(values[chosen] for values in detected)
            parts.append(detected)
        return tuple(np.concatenate([p[column] for p in parts]) for column in range(3))

    def _detect(self, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(index, usable levels, direction code) of every setup over the whole history: what a setup is stored
        under is its direction and its detection candle."""
        if self.kind == PATTERN:
            o, h, lo, c = (self.history[col].to_numpy() for col in ("open", "high", "low", "close"))
            found = get_detector(self.name).find(
                o, h, lo, c, min_zone_pct=params["min_zone_pct"], use_overlap=params["use_overlap"]
            )
            return found.index, np.ones(len(found), np.bool_), found.direction
        setups = get_strategy(self.name).setups(self.market, params)
        usable = np.isfinite(setups.entry) & np.isfinite(setups.stop) & np.isfinite(setups.target)
        return setups.index, usable, setups.direction


def _replay_strategy(name: str, report: ReplayReport, *, history: pd.DataFrame, ends: pd.DatetimeIndex) -> None:
    """Scan the steps that could publish something, and the first and last (see the module doc).

    A strategy trading one position at a time also scans the step before one
    that finds a setup not stored detected by that step's end (back-dated: a
    set changed), so its walk meets the outcomes it would have met step by
    step; a walk meeting only setups after the last step's end gets the same
    outcomes from any earlier follow (a later setup cannot change an earlier trade).
    """
    slice_key = {"symbol": report.symbol, "timeframe": report.timeframe}
    # What the scans keep of the slice's stored setups from one step to the next (stored_setups).
    kind = get_strategy(name).kind
    stored = StoredZones() if kind == PATTERN else StoredSignals(signal_scanner.DIRECTION_CODES)
    timeline = ProductionTimeline(**slice_key, strategy=name)  # the sets applied over time, read once
    watch = PublishWatch(name, history=history, stored=stored, timeline=timeline)
    untils = naive_utc(ends)
    positions = history.index.searchsorted(ends)
    one_position = get_strategy(name).entry_order == TAKER
    scanned = -1  # the last step scanned

    def scan(s: int) -> None:
        nonlocal scanned
        new, changed = _scan(
            name, **slice_key, until=untils[s], history=history, regimes=watch.regimes, stored=stored, timeline=timeline
        )
        report.new_setups[name] += new
        report.outcomes_changed[name] += changed
        report.scans[name] += 1
        scanned = s

    for s, k in enumerate(positions):
        if s in (0, len(untils) - 1) or watch.may_publish(int(k), until=untils[s]):
            if one_position and scanned < s - 1 and watch.back_dated(int(positions[s - 1]), until=untils[s]):
                scan(s - 1)
            scan(s)


@contextmanager
def _rows_kept():
    """Keep the rows the scans load or store in the session, as committed: loaded once per replay, not per scan.

    Each scan commits (a replay stopped midway keeps its finished steps; run
    again, it resumes). By default a commit expires every loaded row and the
    session holds rows weakly, so every scan would load the slice's followed
    zones and outcomes again as new objects. During a replay nobody else
    writes the slice's rows (a scan of the same slice meanwhile would race a
    step-by-step replay too), so a row as the last scan committed it is the
    stored one: the session keeps them (strongly referenced, not expired)
    until the replay ends.
    """
    session = db.session()
    kept: list[Any] = []

    def keep(_session, instance) -> None:
        kept.append(instance)

    expire_on_commit, session.expire_on_commit = session.expire_on_commit, False
    event.listen(session, "loaded_as_persistent", keep)
    event.listen(session, "pending_to_persistent", keep)
    try:
        yield
    finally:
        event.remove(session, "loaded_as_persistent", keep)
        event.remove(session, "pending_to_persistent", keep)
        session.expire_on_commit = expire_on_commit


def replay(
    symbol: str,
    timeframe: str,
    *,
    start: Any,
    end: Any = None,
    strategies: list[str] | None = None,
    step: int = 1,
    log=lambda message: None,
) -> ReplayReport:
    """Replay ``symbol``/``timeframe`` from ``start`` to ``end`` in steps of ``step`` candles (see the module doc)."""
    check_timeframe(timeframe)
    find_symbol(symbol)
    names = _strategies(strategies)
    if not isinstance(step, int) or step < 1:
        raise ValidationError(f"step must be a whole number of candles >= 1, not {step!r}")
    lo = _date(start, "from")
    if lo is None:
        raise ValidationError("from is required")
    hi = _date(end, "to")
    if hi is not None and hi < lo:
        raise ValidationError(f"to ({hi.date()}) is before from ({lo.date()})")
    history = load_candles(symbol, timeframe)  # once: each step sees its prefix
    stamps = history.index
    if stamps.empty:
        raise ValidationError(f"no stored candles for {symbol} {timeframe}")
    ends = step_ends(stamps, start=lo, end=hi if hi is not None else stamps[-1], step=step)
    if ends.empty:
        raise ValidationError(f"no stored candles of {symbol} {timeframe} between {lo} and {hi or stamps[-1]}")
    report = ReplayReport(
        symbol=symbol,
        timeframe=timeframe,
        strategies=names,
        start=ends[0].isoformat(),
        end=ends[-1].isoformat(),
        candles=int(((stamps >= lo) & (stamps <= ends[-1])).sum()),
    )
    report.new_setups = dict.fromkeys(names, 0)
    report.outcomes_changed = dict.fromkeys(names, 0)
    report.scans = dict.fromkeys(names, 0)
    with _rows_kept():
        for name in names:
            _replay_strategy(name, report, history=history, ends=ends)
    report.steps = len(ends)
    log(
        f"replayed {symbol} {timeframe} {report.start} .. {report.end}: {report.steps} step(s) of {step} candle(s), "
        f"scans {report.scans}, new setups {report.new_setups}"
    )
    return report
