"""Slice functions for the Dask tests: module-level, so Dask's spawned workers import them by name."""

import os
from pathlib import Path

from app.evaluation.slice_eval import evaluate_slice


def die_once(task):
    """Kill the worker process the first time any slice starts (marker file in DASK_TEST_MARKER), then evaluate."""
    marker = Path(os.environ["DASK_TEST_MARKER"])
    if not marker.exists():
        marker.write_text("killed")
        os._exit(1)
    return evaluate_slice(task)


def die_on_order_block(task):
    """Kill the worker whenever it evaluates an order_block slice (Dask gives up on it)."""
    if task.strategy == "order_block":
        os._exit(1)
    return evaluate_slice(task)
