"""Parameter optimization services, split by responsibility (the one service behind CLI, pages and API).

- ``jobs``: create, list, find and report jobs (validation of scope, grids, costs);
- ``runner``: claim a job, evaluate its pending slices in worker processes, store each slice;
- ``results``: best parameters per slice, comparisons, a run's trades.

The slice evaluation itself is pure and lives in ``app.evaluation.slice_eval``.
"""
