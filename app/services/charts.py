"""The candlestick chart's data: a window of candles (downsampled), active zones, setup levels, a run's trades.

One JSON shape for the dashboard and a slice page (``static/candles.js`` draws
it with ECharts): ``candles`` as ``[time_ms, open, close, low, high]`` (the
order ECharts' candlestick series reads), at most ``MAX_BARS`` of them whatever
the history (``app.core.charts.downsample_ohlc``), ``zones`` of the active
patterns, ``setups`` with entry / stop / TP1-3, and ``trades`` of a run.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from app.core.charts import MAX_BARS, downsample_ohlc
from app.services.candles import candle_store
from app.services.optimizer import results
from app.services.scanning import setups

WINDOW_BARS = 300  # the dashboard's window: the newest candles, where active zones are
MAX_TRADES = 400  # markers beyond this make a chart unreadable; the newest are kept


def candle_chart(*, symbol: str, timeframe: str, run_id: int | None = None) -> dict[str, Any]:
    """Return the chart of one market: the newest ``WINDOW_BARS`` candles, or a run's whole range with its trades."""
    run = results.run_trades(run_id) if run_id is not None else None
    if run is not None:
        symbol, timeframe = run["symbol"], run["timeframe"]
    step = candle_store.check_timeframe(timeframe)
    candles = _window(symbol, timeframe, step=step, run=run)
    bars = downsample_ohlc(candles, max_bars=MAX_BARS)
    zones = setups.list_patterns(symbol=symbol, timeframe=timeframe, status="active", limit=100)["rows"]
    return {
        "symbol": symbol,
        "timeframe": timeframe,
        "candles_total": len(candles),
        "candles_per_bar": round(len(candles) / len(bars), 2) if len(bars) else 1,
        "candles": [[int(t.value // 10**6), o, c, lo, h] for t, o, h, lo, c in _ohlc(bars)],
        "zones": [_zone(z, end_ms=_last_ms(candles, step)) for z in zones],
        # A run's chart shows its trades; the live setups' levels belong to the dashboard's chart.
        "setups": [] if run else [_setup(z) for z in zones if z.get("entry") is not None],
        "trades": _trades(run) if run else [],
    }


def _window(symbol: str, timeframe: str, *, step: int, run: dict | None) -> pd.DataFrame:
    if run is not None and run.get("trades"):
        times = [t["entry_time"] for t in run["trades"]] + [t["exit_time"] for t in run["trades"]]
        return candle_store.load_candles(symbol, timeframe, start=min(times), end=max(times))
    last = candle_store.last_stored_timestamp(symbol, timeframe)
    if last is None:
        return candle_store.load_candles(symbol, timeframe)  # the empty frame (or NotFoundError for a symbol)
    return candle_store.load_candles(
        symbol, timeframe, start=pd.Timestamp(last - WINDOW_BARS * step, unit="ms", tz="UTC")
    )


def _ohlc(bars: pd.DataFrame):
    return zip(bars.index, bars["open"], bars["high"], bars["low"], bars["close"], strict=True)


def _last_ms(candles: pd.DataFrame, step: int) -> int | None:
    return int(candles.index[-1].value // 10**6) + step if len(candles) else None


def _ms(iso: str) -> int:
    return int(pd.Timestamp(iso).value // 10**6)


def _zone(z: dict[str, Any], *, end_ms: int | None) -> dict[str, Any]:
    """An active zone: from its detection to the chart's end (it is still active), coloured by type and direction."""
    return {
        "id": z["id"],
        "type": z["strategy"],
        "direction": z["direction"],
        "low": z["zone_low"],
        "high": z["zone_high"],
        "from": _ms(z["detected_at"]),
        "to": end_ms,
    }


def _setup(z: dict[str, Any]) -> dict[str, Any]:
    levels = {k: z.get(k) for k in ("entry", "stop_loss", "tp1", "tp2", "tp3")}
    label = f"{z['strategy']} {z['direction']} {z['detected_at'][:16].replace('T', ' ')}"
    return {"id": z["id"], "label": label, "levels": levels}


def _trades(run: dict[str, Any]) -> list[dict[str, Any]]:
    keep = run["trades"][-MAX_TRADES:]
    return [
        {
            "entry_time": _ms(t["entry_time"]),
            "entry": t["entry"],
            "exit_time": _ms(t["exit_time"]),
            "exit": t["exit_price"],
            "direction": t["direction"],
            "r": t["r_multiple"],
        }
        for t in keep
    ]
