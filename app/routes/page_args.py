"""Read the pages' query strings and form fields into service arguments (bad input: ValidationError, 400).

Only the parsing lives here; what a value may be is the services' rule.
"""

from __future__ import annotations

from typing import Any

from flask import request

from app.errors import ValidationError
from app.services.optimizer.slice_table import FILTERS, SORTS

RUNS_PER_PAGE = 50


def int_arg(name: str, default: int | None = None, *, source=None, minimum: int | None = None) -> int | None:
    """Return an integer argument (``default`` when missing or empty), refusing text and values below ``minimum``."""
    raw = (source if source is not None else request.args).get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"{name} must be an integer, not '{raw}'") from None
    if minimum is not None and value < minimum:
        raise ValidationError(f"{name} must be >= {minimum}, not {value}")
    return value


def int_field(name: str) -> int:
    """A required integer form field."""
    value = int_arg(name, source=request.form, minimum=1)
    if value is None:
        raise ValidationError(f"{name} is required")
    return value


def page() -> int:
    return int_arg("page", 1, minimum=1)


ALL = "*"  # in the compare page's slice: every symbol / timeframe


def slice_of(text: str | None) -> tuple[str, str, str] | None:
    """``BTC/USDT|1h|imbalance`` -> (symbol, timeframe, strategy); None for empty."""
    if not text:
        return None
    parts = text.split("|")
    if len(parts) != 3 or not all(parts):
        raise ValidationError(f"slice must be SYMBOL|TIMEFRAME|STRATEGY, not '{text}'")
    return parts[0], parts[1], parts[2]


def required_slice() -> dict[str, str]:
    """The ``slice`` argument (SYMBOL|TIMEFRAME|STRATEGY) as {symbol, timeframe, strategy}; required."""
    market = slice_of(request.args.get("slice"))
    if market is None:
        raise ValidationError("slice is required (SYMBOL|TIMEFRAME|STRATEGY)")
    return dict(zip(("symbol", "timeframe", "strategy"), market, strict=True))


def runs_query() -> dict[str, Any]:
    """The runs table's filters: slice, parameter values (``params=a=1, b=2``), min trades, best only, sort, page."""
    per_page = int_arg("per_page", RUNS_PER_PAGE, minimum=1)
    params = _params_filter(request.args.get("params", ""))
    return {
        "slice": slice_of(request.args.get("slice")),
        "params": params or None,
        "min_trades": int_arg("min_trades", None, minimum=0),
        "best_only": request.args.get("best_only") in ("1", "on", "true"),
        "sort": request.args.get("sort") or "composite_score",
        "descending": request.args.get("order", "desc") != "asc",
        "limit": per_page,
        "offset": (page() - 1) * per_page,
    }


def compare_query() -> dict[str, Any]:
    """The heatmap's arguments: job (empty: newest per slice), slice, x, y, metric, fold, min trades."""
    market = slice_of(request.args.get("slice"))
    if market is None:
        raise ValidationError("choose a slice (SYMBOL|TIMEFRAME|STRATEGY)")
    for name in ("x", "y"):
        if not request.args.get(name):
            raise ValidationError(f"choose the {name.upper()} parameter")
    return {
        "job_id": int_arg("job_id", None, minimum=1),
        "symbol": None if market[0] == ALL else market[0],  # */*/strategy: every slice of it, pooled
        "timeframe": None if market[1] == ALL else market[1],
        "strategy": market[2],
        "x": request.args["x"],
        "y": request.args["y"],
        "metric": request.args.get("metric") or "composite_score",
        "fold": request.args.get("fold") or "max",
        "min_trades": int_arg("min_trades", 10, minimum=0),
    }


def best_query() -> dict[str, Any]:
    """The best-parameters table's filters."""
    return {key: request.args.get(key) or None for key in ("symbol", "timeframe", "strategy")}


def slice_form() -> dict[str, str]:
    """The symbol, timeframe and strategy a form button acts on."""
    missing = [key for key in ("symbol", "timeframe", "strategy") if not request.form.get(key)]
    if missing:
        raise ValidationError(f"missing form field(s): {', '.join(missing)}")
    return {key: request.form[key] for key in ("symbol", "timeframe", "strategy")}


def _params_filter(text: str) -> dict[str, Any]:
    """``fast_period=12, signal_period=9`` -> {"fast_period": 12, "signal_period": 9}."""
    params = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValidationError(f"parameter filter must be name=value, not '{part}'")
        params[name.strip()] = _scalar(value.strip())
    return params


def _scalar(text: str) -> Any:
    """A parameter filter value as typed: int, float, bool or text (the service checks it against the space)."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            continue
    return {"true": True, "false": False}.get(text.lower(), text)


def float_arg(name: str, default: float, *, low: float, high: float) -> float:
    """A float argument within [low, high] (``default`` when missing)."""
    raw = request.args.get(name, "")
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValidationError(f"{name} must be a number, not '{raw}'") from None
    if not low <= value <= high:
        raise ValidationError(f"{name} must be between {low} and {high}, not {value}")
    return value


def slice_pair(text: str | None) -> tuple[str, str] | None:
    """``BTC/USDT|1h`` -> (symbol, timeframe); None for empty."""
    if not text:
        return None
    parts = text.split("|")
    if len(parts) != 2 or not all(parts):
        raise ValidationError(f"market must be SYMBOL|TIMEFRAME, not '{text}'")
    return parts[0], parts[1]


def slices_query() -> dict[str, Any]:
    """The job detail's slices table: filters (strategy, symbol, timeframe, verdict), sort, order, page."""
    sort = request.args.get("sort") if request.args.get("sort") in SORTS else "slice"
    filters = {key: request.args.get(key) or None for key in FILTERS}
    return {**filters, "sort": sort, "descending": request.args.get("order") == "desc", "page": page()}
