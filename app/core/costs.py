"""The venue-aware cost model of every backtest, declared once (pure: no Flask, no SQLAlchemy).

docs/design-rules.md#trade-levels-and-the-backtest: limit orders (pattern entries, target exits) pay the maker
fee and no slippage; stops, end-of-data exits and market entries (indicator
strategies) pay the taker fee plus slippage against the trader. Fees are
charged on each side's notional and folded into the price:

    buy  at p:  p' = p (1 + slip)(1 + fee)
    sell at p:  p' = p (1 - slip)(1 - fee)

with ``slip = slippage_pct / 100`` for a taker fill (0 for a maker fill) and
``fee`` the maker or taker fee / 100. A long buys on entry and sells on exit;
a short the mirror. Net R divides by the raw risk ``|entry - stop|``.

Named presets (``COST_PRESETS``) describe common venues; the default is
``binance_spot`` with 0.05% slippage. Everything that takes costs (the
backtester, the optimizer, the CLI, the scripts) resolves them through
``resolve_costs``, so a name, a rule and a default exist once.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

MAKER, TAKER = "maker", "taker"


@dataclass(frozen=True)
class CostModel:
    """Fees per order kind, slippage on taker fills, and the equity risked per trade (all in percent)."""

    maker_fee_pct: float = 0.1
    taker_fee_pct: float = 0.1
    slippage_pct: float = 0.05
    risk_per_trade_pct: float = 1.0

    def __post_init__(self) -> None:
        for name in ("maker_fee_pct", "taker_fee_pct", "slippage_pct"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
            if not 0 <= value < 10:
                raise ValueError(f"{name} must be in [0, 10), got {value}")
        risk = self.risk_per_trade_pct
        if isinstance(risk, bool) or not isinstance(risk, int | float) or not math.isfinite(risk):
            raise ValueError(f"risk_per_trade_pct must be a finite number, got {risk!r}")
        if not 0 < risk <= 100:
            raise ValueError(f"risk_per_trade_pct must be in (0, 100], got {risk}")

    def factors(self, order: str) -> tuple[float, float]:
        """Return (buy factor, sell factor) for a ``maker`` or ``taker`` fill: multiply the raw price by them."""
        fee = (self.maker_fee_pct if order == MAKER else self.taker_fee_pct) / 100.0
        slip = self.slippage_pct / 100.0 if order == TAKER else 0.0
        return (1.0 + slip) * (1.0 + fee), (1.0 - slip) * (1.0 - fee)

    def as_dict(self) -> dict[str, float]:
        """Return the four numbers as a JSON-safe dict (what jobs and reports store)."""
        return {name: float(value) for name, value in asdict(self).items()}


COST_PRESETS: dict[str, CostModel] = {
    "binance_spot": CostModel(maker_fee_pct=0.1, taker_fee_pct=0.1),
    "binance_spot_bnb": CostModel(maker_fee_pct=0.075, taker_fee_pct=0.075),
    "binance_usdm": CostModel(maker_fee_pct=0.02, taker_fee_pct=0.05),
    "zero": CostModel(maker_fee_pct=0.0, taker_fee_pct=0.0, slippage_pct=0.0),
}
DEFAULT_COSTS = "binance_spot"


def resolve_costs(
    costs: str | CostModel | dict[str, Any] | None = None,
    *,
    maker_fee_pct: float | None = None,
    taker_fee_pct: float | None = None,
    slippage_pct: float | None = None,
    risk_per_trade_pct: float | None = None,
) -> CostModel:
    """Return the cost model named by ``costs`` (a preset name, a CostModel or a dict) with overrides applied.

    None means the default preset; keyword values that are not None replace
    the preset's. Raises ValueError naming the argument.
    """
    if costs is None:
        base = COST_PRESETS[DEFAULT_COSTS]
    elif isinstance(costs, CostModel):
        base = costs
    elif isinstance(costs, str):
        try:
            base = COST_PRESETS[costs]
        except KeyError:
            raise ValueError(f"costs: unknown preset {costs!r} (known: {', '.join(COST_PRESETS)})") from None
    elif isinstance(costs, dict):
        unknown = sorted(set(costs) - set(CostModel.__dataclass_fields__))
        if unknown:
            raise ValueError(f"costs: unknown field(s) {', '.join(unknown)}")
        base = CostModel(**costs)
    else:
        raise ValueError(f"costs must be a preset name or a cost model, got {type(costs).__name__}")
    overrides = {
        name: value
        for name, value in (
            ("maker_fee_pct", maker_fee_pct),
            ("taker_fee_pct", taker_fee_pct),
            ("slippage_pct", slippage_pct),
            ("risk_per_trade_pct", risk_per_trade_pct),
        )
        if value is not None
    }
    return replace(base, **overrides) if overrides else base


def net_prices(
    entry_price: float, exit_price: float, *, direction: int, costs: CostModel, entry_order: str, exit_order: str
) -> tuple[float, float]:
    """Return (entry', exit') after fees and slippage for one trade (a plain-Python reference of the engine)."""
    entry_buy, entry_sell = costs.factors(entry_order)
    exit_buy, exit_sell = costs.factors(exit_order)
    if direction > 0:
        return entry_price * entry_buy, exit_price * exit_sell
    return entry_price * entry_sell, exit_price * exit_buy
