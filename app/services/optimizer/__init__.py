"""Parameter optimization services, split by responsibility (the one service behind CLI, pages and API).

- ``jobs``: create, list, find and report jobs (validation of scope, grids, costs);
- ``runner``: claim a job, evaluate its pending slices in worker processes, store each slice;
- ``results``: best parameters per slice, comparisons, a run's trades.
- ``seed_facade``: ``ParameterOptimizer``, the first design document's class over the three
  (``from app.services.optimizer import ParameterOptimizer``).

The slice evaluation itself is pure and lives in ``app.evaluation.slice_eval``.
"""


def __getattr__(name: str):
    # The seed imports ``ParameterOptimizer`` from this package; load it on first use, so importing a
    # submodule (jobs, runner, ...) never pulls in the facade and its imports of those same submodules.
    if name == "ParameterOptimizer":
        from app.services.optimizer.seed_facade import ParameterOptimizer

        return ParameterOptimizer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
