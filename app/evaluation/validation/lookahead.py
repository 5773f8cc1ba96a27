"""The lookahead guard: setups found on a prefix of the candles equal the full history's up to it (pure).

Lookahead guard (``check_prefix_invariance``)
    A strategy's setups (bar, direction, levels and its extra columns) found
    on ``candles[:k+1]`` must equal the setups of the whole history with
    ``index <= k``, compared as arrays.

"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from app.core.candles import validate_candles
from app.core.costs import TAKER
from app.evaluation.backtest import market_arrays
from app.evaluation.validation.values import integer, iso
from app.strategies import Setups, get_strategy

MAX_VIOLATIONS_PER_CUT = 3


def _cut_points(n: int, setup_bars: np.ndarray, *, n_cuts: int, seed: int) -> list[int]:
    """Return sorted cut bars: the edges, random bars of the second half and bars where setups appear."""
    rng = np.random.default_rng(seed)
    cuts = {0, 1, 2, n // 2, n - 2, n - 1}
    half = np.arange(n // 2, n)
    cuts.update(rng.choice(half, size=min(n_cuts, half.size), replace=False).tolist())
    # A setup that peeks at later candles shows exactly at (or just after) the bar it is reported at.
    indices = np.unique(setup_bars).astype(np.int64)
    if indices.size:
        picked = rng.choice(indices, size=min(n_cuts, indices.size), replace=False)
        cuts.update(picked.tolist())
        cuts.update((picked + 1).tolist())
    return sorted(k for k in cuts if 0 <= k < n)


def _compare_setups(k: int, prefix: Setups, expected: Setups, when: str) -> list[str]:
    """Return what differs between two setup tables, matched on (bar, direction); NaN equals NaN."""
    problems = []
    mine = {key: i for i, key in enumerate(zip(prefix.index.tolist(), prefix.direction.tolist(), strict=True))}
    full = {key: i for i, key in enumerate(zip(expected.index.tolist(), expected.direction.tolist(), strict=True))}
    missing, extra = sorted(set(full) - set(mine)), sorted(set(mine) - set(full))
    if missing:
        problems.append(
            f"cut at bar {k} ({when}): setups {missing[:5]} of the full run are missing from the prefix run"
        )
    if extra:
        problems.append(f"cut at bar {k} ({when}): the prefix run has extra setups {extra[:5]}")
    shared = sorted(set(mine) & set(full))
    rows_mine = np.asarray([mine[key] for key in shared], dtype=np.int64)
    rows_full = np.asarray([full[key] for key in shared], dtype=np.int64)
    full_columns = expected.columns()
    for name, values in prefix.columns().items():
        if name not in full_columns:
            problems.append(f"cut at bar {k} ({when}): column {name} only in the prefix run")
            continue
        a, b = values[rows_mine], full_columns[name][rows_full]
        same = (a == b) | (pd.isna(a) & pd.isna(b))
        for pos in np.flatnonzero(~same)[:MAX_VIOLATIONS_PER_CUT].tolist():
            problems.append(
                f"cut at bar {k} ({when}): setup at bar {shared[pos][0]} differs: "
                f"{name}: prefix {a[pos]!r} vs full {b[pos]!r}"
            )
    return problems[: MAX_VIOLATIONS_PER_CUT + 2]


def _without_pending_levels(setups: Setups, k: int) -> Setups:
    """Blank the levels of setups signalled at bar ``k``: a market order placed at its close fills at the next open."""
    pending = setups.index == k
    if not pending.any():
        return setups
    blank = {name: np.where(pending, np.nan, getattr(setups, name)) for name in ("entry", "stop", "target")}
    return Setups(index=setups.index, direction=setups.direction, extra=setups.extra, **blank)


def check_prefix_invariance(
    candles: pd.DataFrame,
    *,
    strategy: str,
    params: dict[str, Any] | None = None,
    n_cuts: int = 20,
    seed: int = 0,
) -> list[str]:
    """Return lookahead violations of a strategy (empty when its setups are causal on these candles).

    The setups of ``candles.iloc[:k+1]`` must equal the full run's setups
    with ``index <= k``, every column (bar, direction, levels, extras),
    compared as arrays. The full frame is evaluated once; cuts are the edges
    (bars 0, 1, 2, the middle, the last two), ``n_cuts`` random bars of the
    second half and up to ``n_cuts`` bars where the full run reports a setup
    (plus the bar after each), since a peek at later candles shows right
    there. A market-entry strategy's levels of a signal on the cut bar itself
    are not compared (they come from the next open, which the prefix cannot
    know); its bar and direction are. ``params`` default to the strategy's defaults. Pattern strategies
    look their detector up by name, so one registered by a test is what gets
    checked. A prefix run that raises is a violation too.
    """
    if not isinstance(candles, pd.DataFrame) or len(candles) == 0:
        raise ValueError("candles must be a non-empty pandas DataFrame")
    n_cuts = integer(n_cuts, "n_cuts", minimum=0)
    seed = integer(seed, "seed", minimum=0)
    chosen = get_strategy(strategy)
    checked = chosen.space.validate(params)
    frame = validate_candles(candles, source="candles")
    full = chosen.setups(market_arrays(frame), checked)
    violations: list[str] = []
    for k in _cut_points(len(frame), full.index, n_cuts=n_cuts, seed=seed):
        when = iso(frame.index[k])
        try:
            prefix = chosen.setups(market_arrays(frame.iloc[: k + 1]), checked)
        except Exception as exc:  # a crash on a prefix is as much a causality bug as a wrong answer
            violations.append(f"cut at bar {k} ({when}): the strategy raised {exc!r} on the prefix")
            continue
        expected = full.take(full.index <= k)
        if chosen.entry_order == TAKER:  # a market entry's levels come from the next open: unknown at bar k
            prefix, expected = _without_pending_levels(prefix, k), _without_pending_levels(expected, k)
        violations.extend(_compare_setups(k, prefix, expected, when))
    return violations
