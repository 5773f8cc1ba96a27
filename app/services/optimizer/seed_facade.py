"""``ParameterOptimizer``: the first design document's optimizer class, a thin facade over the services.

The seed writes the optimizer as one class; the product grew it into
``jobs`` (create, report), ``runner`` (claim, evaluate, store) and
``results`` (best parameters, comparisons). The facade keeps the seed's
names and signatures, including its ``pattern_type(s)`` for what the
product calls a strategy, and answers with the services' own values. It
needs an application context, like every service.

    >>> optimizer = ParameterOptimizer()
    >>> job = optimizer.create_job("weekly", ["BTC/USDT"], ["4h"], ["imbalance"], "2023-01-01", "2023-12-31",
    ...                            parameter_grid={"rr_target": [1.5, 2.0]})
    >>> optimizer.run_job(job.id)["status"]
    'completed'
"""

from __future__ import annotations

from typing import Any

from app.models import OptimizationJob
from app.services.optimizer import jobs, results
from app.services.optimizer.runner import JobRunner


class ParameterOptimizer:
    """Create, run and query parameter sweeps with the seed's method names."""

    def create_job(
        self,
        name: str,
        symbols: list[str],
        timeframes: list[str],
        pattern_types: list[str],
        start_date: str,
        end_date: str,
        parameter_grid: dict[str, list[Any]] | None = None,
    ) -> OptimizationJob:
        """Store a pending job over symbols x timeframes x pattern types; ``parameter_grid`` None is the default grid.

        Bad input raises ``ValidationError`` naming the field, and creates nothing.
        """
        return jobs.create_job(
            name=name,
            symbols=symbols,
            timeframes=timeframes,
            strategies=pattern_types,
            start_date=start_date,
            end_date=end_date,
            grids=parameter_grid,
        )

    def run_job(self, job_id: int) -> dict[str, Any]:
        """Run (or resume) every pending slice of the job in worker processes; return the job's report."""
        JobRunner().run(job_id)
        return jobs.job_report(job_id)

    def get_best_params(
        self, symbol: str | None = None, pattern_type: str | None = None, metric: str = "total_profit_pct"
    ) -> dict[str, Any]:
        """Return ``{"metric", "best"}``: the best run of every matching slice (newest job first), by ``metric``."""
        return {"metric": metric, "best": results.best_params(symbol=symbol, strategy=pattern_type, metric=metric)}

    def compare_params(
        self, params_a: dict[str, Any], params_b: dict[str, Any], symbol: str, timeframe: str, pattern_type: str
    ) -> dict[str, Any]:
        """Backtest both parameter sets on the stored candles; return both, their difference and the better one."""
        return results.compare_params(params_a, params_b, symbol=symbol, timeframe=timeframe, strategy=pattern_type)
