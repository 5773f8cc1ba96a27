"""A premium user's own parameter sets per symbol and strategy: save, copy from a run or production, clear.

Every write needs a premium (or admin) account (``access.require_premium``)
and clears the optimal-parameter cache, so the user's next lookup sees it.
``params_source`` records where the parameters came from: ``manual``,
``job:<id>/run:<id>``, or ``production:set:<id>`` / ``production:default``.
A user's set is per symbol and strategy (every timeframe), as preferences are.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.errors import NotFoundError
from app.extensions import db
from app.models import OptimizationRun, Symbol, User, UserParameterSet
from app.services.accounts.access import require_premium
from app.services.candles.candle_store import find_symbol
from app.services.params import parameter_sets
from app.services.params.optimal_parameters import get_parameters
from app.services.params.parameter_cache import invalidate_parameters
from app.services.params.provenance import source_provenance


def _to_dict(row: UserParameterSet, symbol: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "symbol": symbol,
        "strategy": row.strategy,
        "params": dict(row.params),
        "use_custom": row.use_custom,
        "params_source": row.params_source,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
        "provenance": source_provenance(row.params_source),
    }


def list_sets(user: User) -> list[dict[str, Any]]:
    """Return the user's parameter sets (active or cleared), by symbol and strategy."""
    rows = db.session.execute(
        select(UserParameterSet, Symbol.name)
        .join(Symbol, Symbol.id == UserParameterSet.symbol_id)
        .where(UserParameterSet.user_id == user.id)
        .order_by(Symbol.name, UserParameterSet.strategy)
    )
    return [_to_dict(row, name) for row, name in rows]


def save_custom(
    user: User, *, symbol: str, strategy: str, params: dict[str, Any], source: str = "manual"
) -> dict[str, Any]:
    """Store (or replace) the user's custom set for symbol and strategy, validated by the declared space; on."""
    require_premium(user)
    clean = parameter_sets.validated_params(strategy, params)
    symbol_row = find_symbol(symbol)
    row = _row(user, symbol_row.id, strategy)
    if row is None:
        row = UserParameterSet(user_id=user.id, symbol_id=symbol_row.id, strategy=strategy)
        db.session.add(row)
    row.params, row.use_custom, row.params_source = clean, True, source[:100]
    db.session.commit()
    invalidate_parameters()
    return _to_dict(row, symbol_row.name)


def copy_run(user: User, *, run_id: int) -> dict[str, Any]:
    """Copy a stored run's parameters into the user's set for that run's symbol and strategy."""
    require_premium(user)
    run = db.session.get(OptimizationRun, run_id)
    if run is None:
        raise NotFoundError(f"optimization run {run_id} not found")
    slice_ = run.slice
    return save_custom(
        user, symbol=slice_.symbol, strategy=slice_.strategy, params=run.params, source=f"job:{run.job_id}/run:{run.id}"
    )


def copy_production(user: User, *, symbol: str, timeframe: str, strategy: str) -> dict[str, Any]:
    """Copy the parameters production trades for (symbol, timeframe, strategy) into the user's set."""
    require_premium(user)
    resolved = get_parameters(symbol=symbol, timeframe=timeframe, strategy=strategy)
    origin = f"production:set:{resolved.set_id}" if resolved.set_id else "production:default"
    return save_custom(user, symbol=symbol, strategy=strategy, params=resolved.params, source=f"{origin}/{timeframe}")


def clear_custom(user: User, *, symbol: str, strategy: str) -> None:
    """Turn the user's custom set off (kept, so it can be restored): they trade production again.

    Clearing a set that is already off changes nothing; a symbol/strategy with no set is NotFoundError.
    """
    require_premium(user)
    row = _row(user, find_symbol(symbol).id, strategy)
    if row is None:
        raise NotFoundError(f"no custom parameters for {symbol} {strategy}")
    row.use_custom = False
    db.session.commit()
    invalidate_parameters()


def _row(user: User, symbol_id: int, strategy: str) -> UserParameterSet | None:
    return db.session.scalar(
        select(UserParameterSet).where(
            UserParameterSet.user_id == user.id,
            UserParameterSet.symbol_id == symbol_id,
            UserParameterSet.strategy == strategy,
        )
    )
