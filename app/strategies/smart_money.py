"""Smart-money confirmation of indicator signals: a signal counts only where a zone of its side agrees (pure).

Seed 002's EMA grid has a ``smart_money_enabled`` axis; here it is the
``smart_money`` parameter of every indicator strategy, with the zones of the
production detectors (``app.core.patterns``).

Rule (``smart_money`` = kind K, ``smart_money_lookback`` = L bars; long
described, short mirrors). A LONG signal at candle ``t`` is kept when at least
one BULLISH zone of kind K

1. is found by the production detector with its production settings
   (``get_detector(pattern_type)``: ``min_zone_pct`` 0.15, the overlap filter
   on, expiry 100 bars; docs/design-rules.md#patterns), i.e. a zone the
   scanner would publish;
2. was detected at a candle ``d`` with ``1 <= t - d <= L``: known at an
   earlier close than the signal's (a zone first known at the signal's own
   close was not there for that candle to trade into);
3. is still active at the close of ``t`` by the overlap rule's definition:
   ``t - d <= expiry_bars`` and no close in ``d+1 .. t`` below ``zone_low``
   (the signal candle's own close included; ``active_until``);
4. was reached by the signal candle: ``low[t] <= zone_high``.

SHORT: a BEARISH zone, no close above ``zone_high``, ``high[t] >= zone_low``.
Kinds: ``fvg`` (imbalance), ``order_block``, ``sweep`` (liquidity sweep),
``any`` (any of the three); ``off`` keeps every signal (the strategies'
behaviour without confirmation).

Causal: the detectors are causal (a zone is known at the close of its
``index``), and the rule reads candles ``d .. t`` only, so a signal's verdict
never changes when later candles arrive. Shared across a grid: the zones of
each detector are found once per call (cached in the strategy's ``Context``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from app.core.engine import MarketArrays
from app.core.jit import njit
from app.core.patterns import PatternArrays, active_until, get_detector
from app.strategies.parameters import Constraint, Parameter

# Each kind and the detectors (pattern types) whose zones confirm it.
SMART_MONEY_KINDS: dict[str, tuple[str, ...]] = {
    "off": (),
    "fvg": ("imbalance",),
    "order_block": ("order_block",),
    "sweep": ("liquidity_sweep",),
    "any": ("imbalance", "order_block", "liquidity_sweep"),
}
DEFAULT_SMART_MONEY = "off"
DEFAULT_LOOKBACK = 20
MAX_LOOKBACK = 100  # the detectors' expiry: an older zone is never active


def smart_money_parameters() -> tuple[Parameter, ...]:
    """Return the confirmation parameters every indicator strategy declares."""
    return (
        Parameter(
            "smart_money",
            "choice",
            DEFAULT_SMART_MONEY,
            "Signals count only on a retest of an active zone of their side: fvg, order_block, sweep, any; "
            "off = every signal.",
            choices=tuple(SMART_MONEY_KINDS),
        ),
        Parameter(
            "smart_money_lookback",
            "int",
            DEFAULT_LOOKBACK,
            "How many bars before the signal the confirming zone may have been detected.",
            low=1,
            high=MAX_LOOKBACK,
        ),
    )


LOOKBACK_ONLY_WHEN_ON = Constraint(
    f"smart_money_lookback stays {DEFAULT_LOOKBACK} when smart_money is off (any other value repeats the same run)",
    lambda p: p["smart_money"] != "off" or p["smart_money_lookback"] == DEFAULT_LOOKBACK,
)


def production_zones(market: MarketArrays, pattern_type: str) -> tuple[PatternArrays, np.ndarray]:
    """Return the zones the production detector finds and the first bar at which each is no longer active."""
    detector = get_detector(pattern_type)
    zones = detector.find(market.open, market.high, market.low, market.close)
    return zones, active_until(zones, close=market.close, expiry_bars=detector.expiry_bars)


def confirmed(
    market: MarketArrays,
    *,
    index: np.ndarray,
    direction: np.ndarray,
    kind: str,
    lookback: int,
    zones_of: Callable[[str], tuple[PatternArrays, np.ndarray]],
) -> np.ndarray:
    """Return the mask of signals (``index``, ``direction``) that ``kind`` confirms (module docstring).

    ``zones_of(pattern_type)`` returns ``production_zones`` (the caller caches it).
    """
    if kind not in SMART_MONEY_KINDS:
        raise ValueError(f"smart_money must be one of {', '.join(SMART_MONEY_KINDS)}, got {kind!r}")
    keep = np.zeros(len(index), np.bool_)
    if kind == "off":
        return ~keep
    sig_index = np.ascontiguousarray(index, dtype=np.int64)
    sig_direction = np.ascontiguousarray(direction, dtype=np.int8)
    for pattern_type in SMART_MONEY_KINDS[kind]:
        zones, end = zones_of(pattern_type)
        keep |= _confirmed_kernel(
            sig_index,
            sig_direction,
            zones.index,
            zones.direction,
            zones.zone_low,
            zones.zone_high,
            end,
            market.high,
            market.low,
            int(lookback),
        )
    return keep


@njit(cache=True)
def _confirmed_kernel(
    sig_index, sig_direction, zone_index, zone_direction, zone_low, zone_high, zone_end, high, low, lookback
):  # pragma: no cover - numba
    m = sig_index.shape[0]
    keep = np.zeros(m, np.bool_)
    for i in range(m):
        t = sig_index[i]
        d = sig_direction[i]
        # Zones are sorted by index: those detected in t - lookback .. t - 1.
        first = np.searchsorted(zone_index, t - lookback)
        stop = np.searchsorted(zone_index, t)
        for z in range(first, stop):
            if zone_direction[z] != d or zone_end[z] <= t:
                continue
            if (d > 0 and low[t] <= zone_high[z]) or (d < 0 and high[t] >= zone_low[z]):
                keep[i] = True
                break
    return keep
