"""Compare tracked outcomes with a replay of the backtest over the same candles (pure: no Flask, no SQLAlchemy).

Both sides are outcome records (``app.evaluation.outcomes.Followed.record``
plus ``detected_at_ns`` and ``direction``), keyed by detection candle and
direction. They must agree exactly: same state, fill and exit candle, exit
reason and price, net R (bit for bit: the same engine computed both) and bars
held. A backtest setup with unusable levels (``invalid``) that production never
published is no difference (there was nothing to publish); a skipped
indicator signal is ``invalid`` in the backtest's own outcomes, so ``skipped``
compares as ``invalid``. The first difference in detection order is reported:
it is a defect ("production does something other than the backtest"), not a
change of the market.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.core.engine import MarketArrays
from app.evaluation.outcomes import INVALID, SKIPPED, Followed, outcome_states
from app.strategies.base import SingleRun

# ``params``: the parameters the setup was traded with, where both sides name them (None on both otherwise).
COMPARED = (
    "state",
    "filled_at_ns",
    "exited_at_ns",
    "exit_reason",
    "exit_price",
    "r_multiple",
    "bars_held",
    "params",
)


@dataclass(frozen=True)
class Reconciliation:
    """How many setups agreed, and the first that did not (None: identical)."""

    compared: int
    matched: int
    first_mismatch: dict[str, Any] | None = None
    mismatches: int = 0
    details: list[dict[str, Any]] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.mismatches == 0


def replayed_records(market: MarketArrays, run: SingleRun) -> list[dict[str, Any]]:
    """Return the backtest run's per-setup outcomes as tracker records (every setup, detection order)."""
    followed = Followed(outcomes=run.outcomes, state=outcome_states(run.outcomes))
    records = []
    for k in range(len(run.setups)):
        record = followed.record(k, market.time_ns)
        record.update(detected_at_ns=int(market.time_ns[run.setups.index[k]]), direction=int(run.setups.direction[k]))
        records.append(record)
    return records


def _comparable(record: dict[str, Any]) -> dict[str, Any]:
    values = {name: record.get(name) for name in COMPARED}
    if values["state"] == SKIPPED:
        values["state"] = INVALID
    return values


def reconcile_records(tracked: list[dict[str, Any]], replayed: list[dict[str, Any]]) -> Reconciliation:
    """Compare tracked with replayed outcome records (module docstring); keys: (detected_at_ns, direction)."""
    mine = {(r["detected_at_ns"], r["direction"]): r for r in tracked}
    theirs = {(r["detected_at_ns"], r["direction"]): r for r in replayed}
    keys = sorted(set(mine) | set(theirs))
    details = []
    compared = 0
    for key in keys:
        a, b = mine.get(key), theirs.get(key)
        if a is None and b["state"] == INVALID:
            continue  # unusable levels: nothing to publish
        compared += 1
        if a is None or b is None:
            side = "tracked" if b is None else "backtest"
            details.append({"detected_at_ns": key[0], "direction": key[1], "only_in": side})
            continue
        ca, cb = _comparable(a), _comparable(b)
        differing = [name for name in COMPARED if not _same(ca[name], cb[name])]
        if differing:
            details.append(
                {
                    "detected_at_ns": key[0],
                    "direction": key[1],
                    "fields": {name: {"tracked": ca[name], "backtest": cb[name]} for name in differing},
                }
            )
    return Reconciliation(
        compared=compared,
        matched=compared - len(details),
        first_mismatch=details[0] if details else None,
        mismatches=len(details),
        details=details,
    )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (np.isnan(a) and np.isnan(b))
    return a == b
