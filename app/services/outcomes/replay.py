"""Replay a slice's stored history as if it were live: the scanners, step by step, with the sets of that time.

From ``start`` to ``end`` (default: the newest stored candle), every
``step``-th stored candle (and the last one) ends a step; each step runs the
production scanners (``pattern_scanner.scan_detector`` /
``signal_scanner.scan_signals``) with ``until`` = that candle's open time, so
they see only the candles opened up to then and trade the production set
applied by then (``parameter_sets.row_as_of``; none: the defaults). The
tracker follows each published setup exactly as it would have live.

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

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from app.core.patterns import get_detector
from app.errors import ValidationError
from app.services.candles.candle_store import check_timeframe, find_symbol, load_candles
from app.services.scanning import pattern_scanner, signal_scanner
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
    new_setups: dict[str, int] = field(default_factory=dict)
    outcomes_changed: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _date(value: Any, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} is not a date: {value!r}") from None
    if ts is pd.NaT:
        raise ValidationError(f"{name} is not a date: {value!r}")
    return ts.tz_convert("UTC") if ts.tz is not None else ts.tz_localize("UTC")


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
    detectors = {name: get_detector(name) for name in names if get_strategy(name).kind == PATTERN}
    for until in ends.tz_convert("UTC").tz_localize(None).to_pydatetime():
        for name in names:
            if name in detectors:
                new, scanned = pattern_scanner.scan_slice(
                    detectors[name], symbol=symbol, timeframe=timeframe, until=until, history=history
                )
                report.new_setups[name] += len(new)
                report.outcomes_changed[name] += scanned.outcomes_changed
            else:
                scanned = signal_scanner.scan_signals(
                    symbol=symbol, timeframe=timeframe, strategy=name, until=until, history=history
                )
                report.new_setups[name] += sum(scanned.new_by_direction.values())
                report.outcomes_changed[name] += scanned.outcomes_changed
        report.steps += 1
    log(
        f"replayed {symbol} {timeframe} {report.start} .. {report.end}: {report.steps} step(s) of {step} candle(s), "
        f"new setups {report.new_setups}"
    )
    return report
