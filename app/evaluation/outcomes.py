"""Follow published setups to their trade outcome with the backtest's own engine (pure: no Flask, no SQLAlchemy).

A published setup (a pattern with its levels, an indicator signal) is a
trade the backtest would simulate: the same fill (a resting limit order, or a
market order at the next open), the same exit (stop first, gap exits at the
open, end of data) and the same costs, docs/design-rules.md#trade-levels-and-the-backtest.
So following it calls exactly ``app.core.engine``'s ``find_fills`` /
``fill_at_next_open`` and ``resolve_exits`` (and, for indicator strategies, the
one-position walk of ``app.strategies.indicator_base``): there is no second
implementation to drift from the backtest.

Every rule the engine applies looks forward from the detection bar only, so
following the setups over a window of candles that starts at (or before) the
oldest of them gives the same outcome as over the whole history, and an
outcome that has closed never changes when candles are appended. What is not
closed yet is reported as such:

========== ======================================================================
state      meaning
========== ======================================================================
waiting    the order rests (or the signal's next open is not there yet)
open       filled, neither stop nor target reached; ``r_multiple`` is the mark at
           the newest close (the backtest's ``end_of_data`` exit), ``exit_*`` empty
closed     exited at the stop or the target (final)
cancelled  ``max_wait_bars`` candles passed untouched (final, no trade)
invalid    levels unusable (NaN, no positive risk, target not beyond the entry)
skipped    an indicator signal while its strategy's position was open (final)
========== ======================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.core.costs import MAKER, TAKER, CostModel
from app.core.engine import (
    EXIT_END_OF_DATA,
    EXIT_REASONS,
    STATUS_CANCELLED,
    STATUS_EXPIRED,
    STATUS_FILLED,
    MarketArrays,
    Outcomes,
    fill_at_next_open,
    find_fills,
    resolve_exits,
)
from app.strategies.indicator_base import mark_skipped, one_position_walk

WAITING, OPEN, CLOSED, CANCELLED, INVALID, SKIPPED = "waiting", "open", "closed", "cancelled", "invalid", "skipped"
STATES = (WAITING, OPEN, CLOSED, CANCELLED, INVALID, SKIPPED)
FINAL_STATES = (CLOSED, CANCELLED, INVALID, SKIPPED)


@dataclass(frozen=True)
class Followed:
    """The engine's per-setup outcomes plus the tracker's state name of each setup."""

    outcomes: Outcomes
    state: np.ndarray  # str per setup, one of STATES

    def __len__(self) -> int:
        return int(self.state.shape[0])

    def record(self, k: int, time_ns: np.ndarray) -> dict:
        """Return setup ``k``'s outcome as plain values (times as epoch ns; None where there is none)."""
        out = self.outcomes
        state = str(self.state[k])
        traded = state in (OPEN, CLOSED)
        fill, exit_ = int(out.fill_bar[k]), int(out.exit_bar[k])
        closed = state == CLOSED
        return {
            "state": state,
            "filled_at_ns": int(time_ns[fill]) if traded else None,
            "exited_at_ns": int(time_ns[exit_]) if closed else None,
            "exit_price": float(out.exit_price[k]) if closed else None,
            "exit_reason": EXIT_REASONS[int(out.exit_reason[k])] if closed else None,
            "r_multiple": float(out.r_multiple[k]) if traded else None,
            "bars_held": exit_ - fill if traded else None,
        }


def follow_setups(
    market: MarketArrays,
    *,
    index: np.ndarray,
    direction: np.ndarray,
    entry: np.ndarray,
    stop: np.ndarray,
    target: np.ndarray,
    entry_order: str,
    costs: CostModel,
    max_wait_bars: int,
) -> Followed:
    """Return the outcome of each setup (detection bar ``index`` in ``market``) as the backtest simulates it.

    ``entry_order``: ``maker`` (pattern limit entries, each setup its own
    trade) or ``taker`` (indicator market entries at the next open, one
    position at a time: setups must then be in time order and include every
    signal since the last one whose trade is already known to be closed).
    """
    index = np.ascontiguousarray(index, dtype=np.int64)
    direction = np.ascontiguousarray(direction, dtype=np.int8)
    if entry_order == MAKER:
        fills = find_fills(
            market, index=index, direction=direction, entry=entry, stop=stop, max_wait_bars=max_wait_bars
        )
    elif entry_order == TAKER:
        if np.any(np.diff(index) < 0):
            raise ValueError("market-order setups must be in time order (one position at a time)")
        fills = fill_at_next_open(market, index=index, direction=direction, stop=stop)
    else:
        raise ValueError(f"entry_order must be {MAKER!r} or {TAKER!r}, got {entry_order!r}")
    outcomes = resolve_exits(
        market, fills, direction=direction, entry=entry, stop=stop, target=target, costs=costs, entry_order=entry_order
    )
    skipped = np.zeros(len(index), np.bool_)
    if entry_order == TAKER:
        filled = outcomes.status == STATUS_FILLED
        taken = one_position_walk(index, outcomes)
        skipped = filled.copy()
        skipped[taken] = False
        mark_skipped(outcomes, taken)
    return Followed(outcomes=outcomes, state=outcome_states(outcomes, skipped=skipped))


def outcome_states(outcomes: Outcomes, *, skipped: np.ndarray | None = None) -> np.ndarray:
    """Return the tracker's state name of every setup of engine outcomes (module docstring)."""
    status = outcomes.status
    state = np.full(status.shape[0], INVALID, dtype=object)
    state[status == STATUS_EXPIRED] = WAITING
    state[status == STATUS_CANCELLED] = CANCELLED
    filled = status == STATUS_FILLED
    state[filled & (outcomes.exit_reason == EXIT_END_OF_DATA)] = OPEN
    state[filled & (outcomes.exit_reason != EXIT_END_OF_DATA)] = CLOSED
    if skipped is not None:
        state[skipped] = SKIPPED
    return state
