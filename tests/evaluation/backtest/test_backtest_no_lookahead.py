"""No lookahead: trades closed by candle k are the same whether the backtest saw data up to k or all of it."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.costs import CostModel
from app.core.engine import STATUS_NAMES, prepare_market, simulate_setups
from app.core.indicators import wilder_atr
from app.core.levels import compute_levels
from app.core.patterns import get_detector
from app.evaluation.backtest import run_backtest
from app.strategies import PATTERN, strategy_names
from tests.reference_engine import reference_backtest

PATTERN_TYPES = strategy_names(PATTERN)
SPOT = CostModel(maker_fee_pct=0.1, taker_fee_pct=0.1, slippage_pct=0.05)

PARAMS = [
    {"entry_method": "zone_edge", "tp_method": "fixed_rr", "rr_target": 2.0, "sl_buffer_pct": 10.0},
    {"entry_method": "atr_buffer", "tp_method": "swing_target", "rr_target": 3.0, "sl_buffer_pct": 5.0},
    {"entry_method": "zone_mid", "tp_method": "atr_multiple", "rr_target": 1.5, "sl_buffer_pct": 20.0},
]


@pytest.mark.parametrize("pattern_type", PATTERN_TYPES)
@pytest.mark.parametrize("params", PARAMS, ids=lambda p: f"{p['entry_method']}-{p['tp_method']}")
def test_trades_closed_by_k_do_not_depend_on_later_candles(btc_4h, pattern_type, params):
    full = run_backtest(btc_4h, strategy=pattern_type, params=params)
    n = len(btc_4h)
    for k in (n // 5, n // 2, (4 * n) // 5 + 7):
        cut = btc_4h.index[k].isoformat()
        part = run_backtest(btc_4h.iloc[: k + 1], strategy=pattern_type, params=params)
        closed_part = [t for t in part["trades"] if t["exit_reason"] != "end_of_data"]
        closed_full = [t for t in full["trades"] if t["exit_time"] <= cut]
        assert closed_part == closed_full
        assert len(closed_full) > 10
        # A trade still open at k is closed at k's close in the shorter run, and is still open (or later) in full.
        still_open = {t["entry_time"] for t in part["trades"] if t["exit_reason"] == "end_of_data"}
        assert all(t["exit_time"] == cut for t in part["trades"] if t["exit_reason"] == "end_of_data")
        assert still_open <= {t["entry_time"] for t in full["trades"] if t["exit_time"] > cut}


@pytest.mark.parametrize("pattern_type", PATTERN_TYPES)
def test_compiled_path_matches_the_reference_on_real_setups(btc_4h, pattern_type):
    df = btc_4h.iloc[:4000]
    o, h, lo, c = (df[col].to_numpy() for col in ("open", "high", "low", "close"))
    patterns = get_detector(pattern_type).find(o, h, lo, c, min_zone_pct=0.1)
    levels = compute_levels(
        patterns=patterns,
        high=h,
        low=lo,
        close=c,
        atr=wilder_atr(h, lo, c),
        entry_method="zone_mid",
        sl_buffer_pct=10.0,
        tp_method="swing_target",
        rr_target=2.5,
    )
    market = prepare_market(open_=o, high=h, low=lo, close=c, time_ns=df.index.as_unit("ns").asi8)
    out = simulate_setups(
        market,
        index=patterns.index,
        direction=patterns.direction,
        entry=levels.entry,
        stop=levels.stop,
        target=levels.target,
        max_wait_bars=30,
        costs=SPOT,
    )
    setups = [
        {"index": i, "direction": d, "entry": e, "stop": s, "target": t}
        for i, d, e, s, t in zip(
            patterns.index, patterns.direction, levels.entry, levels.stop, levels.target, strict=True
        )
    ]
    ref = reference_backtest(
        open_=o,
        high=h,
        low=lo,
        close=c,
        time_ns=df.index.as_unit("ns").asi8,
        setups=setups,
        max_wait_bars=30,
        costs=SPOT,
    )
    ref_trades = sorted(ref["trades"], key=lambda t: t["setup"])
    traded = np.flatnonzero(out.traded)
    assert traded.tolist() == [t["setup"] for t in ref_trades]
    assert out.exit_bar[traded].tolist() == [t["exit_bar"] for t in ref_trades]
    assert np.allclose(out.r_multiple[traded], [t["r_multiple"] for t in ref_trades], rtol=1e-12, atol=1e-12)
    assert len(traded) > 50
    assert [STATUS_NAMES[k] for k in out.status] == ref["statuses"]
    # Real data has touch-and-stop candles: trades filled and stopped in the same candle are counted.
    same_candle = [t for t in ref_trades if t["fill_bar"] == t["exit_bar"]]
    assert same_candle and all(t["exit_reason"] == "stop" for t in same_candle)
